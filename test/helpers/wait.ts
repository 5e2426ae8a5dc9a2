/** Waiting in tests and benchmarks: by polling, never by asserting a time. */

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface WaitOptions<T> {
  /** When the value is the one waited for; default: when it is truthy. */
  accept?: (value: T) => boolean;
  /** Default 20 s: generous, since the machine may be loaded; a wait that passes ends early. */
  timeoutMs?: number;
  /** Default 25 ms. */
  everyMs?: number;
  /** Keep polling when `check` throws (a server still starting); the last error is in the failure. */
  retryErrors?: boolean;
}

/**
 * Calls `check` every `everyMs` until `accept` takes its value, and returns that value; throws
 * after `timeoutMs`, naming `what` and the last value (or error) seen. The one polling wait of
 * the suite, used by tests and benchmarks alike.
 */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, options: WaitOptions<T | undefined> & { accept: typeof isDefined }): Promise<T>;
export async function waitFor<T>(what: string, check: () => T | Promise<T>, options?: WaitOptions<T>): Promise<T>;
export async function waitFor<T>(what: string, check: () => T | Promise<T>, options: WaitOptions<T> = {}): Promise<T> {
  const { accept = Boolean, timeoutMs = 20_000, everyMs = 25, retryErrors = false } = options;
  const started = performance.now();
  for (;;) {
    let last: { value: T } | { error: unknown };
    try {
      const value = await check();
      if (accept(value)) return value;
      last = { value };
    } catch (error) {
      if (!retryErrors) throw error;
      last = { error };
    }
    if (performance.now() - started > timeoutMs) {
      const seen = 'value' in last ? `last value: ${JSON.stringify(last.value)?.slice(0, 2000)}` : `last error: ${String(last.error)}`;
      throw new Error(`${what}: not reached within ${timeoutMs} ms; ${seen}`);
    }
    await sleep(everyMs);
  }
}

/** For `accept`: a value that is not undefined (and waitFor's result is typed without undefined). */
export const isDefined = Object.assign((value: unknown): boolean => value !== undefined, { defined: true as const });
