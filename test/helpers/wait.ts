/** Waiting in tests and benchmarks: by polling, never by asserting a time. */

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Calls `check` every `everyMs` until `accept` takes its value, and returns that value; throws
 * after `timeoutMs`, naming `what` and the last value seen.
 */
export async function pollUntil<T>(check: () => T | Promise<T>, accept: (value: T) => boolean, what: string, timeoutMs: number, everyMs: number): Promise<T> {
  const started = performance.now();
  for (;;) {
    const last = await check();
    if (accept(last)) return last;
    if (performance.now() - started > timeoutMs) throw new Error(`${what}: not reached within ${timeoutMs} ms; last value: ${JSON.stringify(last)?.slice(0, 2000)}`);
    await sleep(everyMs);
  }
}
