import { describe, expect, it } from 'vitest';
import { DocumentError } from '../../src/imds/document.ts';
import { ImdsError, parseRetryAfter, type ImdsErrorKind } from '../../src/imds/imdsError.ts';
import { backoffDelay } from '../../src/backoff.ts';
import { fetchWithRetry, type RetryOptions } from '../../src/imds/retry.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { FakeClock, flush } from '../helpers/fakeClock.ts';

const http = (status: number, retryAfterMs?: number) =>
  new ImdsError({ kind: 'http', endpoint: 'instance', status, retryAfterMs, message: `HTTP ${status}` });
const failure = (kind: ImdsErrorKind, code?: string) => new ImdsError({ kind, endpoint: 'instance', code, message: kind });

type Step = Error | 'ok';

/**
 * Runs fetchWithRetry over a scripted operation (one entry per attempt; the last one repeats),
 * moving fake time until it settles. Records when each attempt started.
 */
async function run(script: Step[], overrides: Partial<RetryOptions> = {}, stepMs = 100, maxMs = 200_000) {
  const clock = (overrides.clock as FakeClock | undefined) ?? new FakeClock();
  const metrics = createMetrics({ version: 'test' });
  const start = clock.now();
  const attempts: number[] = [];
  const promise = fetchWithRetry(
    async () => {
      const step = script[Math.min(attempts.length, script.length - 1)]!;
      attempts.push(clock.now() - start);
      if (step === 'ok') return 'document';
      throw step;
    },
    { endpoint: 'instance', budgetMs: 70_000, clock, random: () => 0.5, metrics, ...overrides },
  );
  let outcome: { value?: string; error?: unknown } | undefined;
  promise.then(
    (value) => (outcome = { value }),
    (error: unknown) => (outcome = { error }),
  );
  for (let t = 0; t <= maxMs && !outcome; t += stepMs) await clock.advance(stepMs);
  await flush();
  const retries = (await metrics.imdsRetries.get()).values.find((v) => v.labels.imds_endpoint === 'instance')?.value ?? 0;
  return { outcome: outcome!, attempts, retries, clock };
}

describe('fetchWithRetry: what is retried', () => {
  it.each<{ name: string; script: Step[]; attempts: number; ok: boolean }>([
    { name: '500 then success', script: [http(500), 'ok'], attempts: 2, ok: true },
    { name: '502, 503, 504 then success', script: [http(502), http(503), http(504), 'ok'], attempts: 4, ok: true },
    { name: '410 twice then success', script: [http(410), http(410), 'ok'], attempts: 3, ok: true },
    { name: '429 then success', script: [http(429), 'ok'], attempts: 2, ok: true },
    { name: 'timeout then success', script: [failure('timeout'), 'ok'], attempts: 2, ok: true },
    { name: 'connect timeout then success', script: [failure('timeout', 'connect_timeout'), 'ok'], attempts: 2, ok: true },
    { name: 'reset then success', script: [failure('network', 'reset'), 'ok'], attempts: 2, ok: true },
    { name: 'refused then success', script: [failure('network', 'refused'), 'ok'], attempts: 2, ok: true },
    { name: '400 stops at once', script: [http(400), 'ok'], attempts: 1, ok: false },
    { name: '404 stops at once', script: [http(404), 'ok'], attempts: 1, ok: false },
    { name: '405 stops at once', script: [http(405), 'ok'], attempts: 1, ok: false },
    { name: '403 stops at once', script: [http(403), 'ok'], attempts: 1, ok: false },
    { name: 'a redirect stops at once', script: [new ImdsError({ kind: 'redirect', endpoint: 'instance', status: 302, message: 'redirect' }), 'ok'], attempts: 1, ok: false },
    { name: 'a schema error stops at once', script: [failure('schema'), 'ok'], attempts: 1, ok: false },
    { name: 'a DocumentError stops at once', script: [new DocumentError(['compute: required']), 'ok'], attempts: 1, ok: false },
    { name: 'a too-large body stops at once', script: [failure('too-large'), 'ok'], attempts: 1, ok: false },
    { name: 'an unknown error stops at once', script: [new Error('bug'), 'ok'], attempts: 1, ok: false },
    { name: 'a TypeError stops at once', script: [new TypeError('x is not a function'), 'ok'], attempts: 1, ok: false },
    { name: 'retryable then fatal stops at the fatal one', script: [http(500), http(404), 'ok'], attempts: 2, ok: false },
  ])('$name: $attempts attempt(s)', async ({ script, attempts, ok }) => {
    const result = await run(script);
    expect(result.attempts).toHaveLength(attempts);
    expect(result.retries).toBe(attempts - 1);
    if (ok) expect(result.outcome.value).toBe('document');
    else expect(result.outcome.error).toBe(script[attempts - 1]);
  });
});

describe('fetchWithRetry: when', () => {
  it('backs off exponentially with full jitter, capped', async () => {
    const draws = [0.5, 1, 0.25, 0.999, 0.5, 0.5, 0];
    let i = 0;
    const random = () => draws[i++ % draws.length]!;
    const { attempts } = await run([http(500), http(500), http(500), http(500), http(500), http(500), http(500), 'ok'], { random, baseDelayMs: 500, maxDelayMs: 4000 }, 1);
    const gaps = attempts.slice(1).map((t, k) => t - attempts[k]!);
    // retry n waits floor(random * min(4000, 500 * 2^n))
    expect(gaps).toEqual([250, 1000, 500, 3996, 2000, 2000, 0]);
  });

  it('backoffDelay never exceeds the cap and covers [0, ceiling)', () => {
    for (let n = 0; n < 40; n++) {
      expect(backoffDelay(n, { baseMs: 500, capMs: 10_000 }, () => 0)).toBe(0);
      expect(backoffDelay(n, { baseMs: 500, capMs: 10_000 }, () => 0.999_999)).toBeLessThan(Math.min(10_000, 500 * 2 ** n));
    }
  });

  it('retries a 410 for the whole 70 s budget, and not beyond', async () => {
    const { outcome, attempts, retries } = await run([http(410)], { random: () => 1 - 1e-9, baseDelayMs: 500, maxDelayMs: 10_000 }, 10);
    expect((outcome.error as ImdsError).status).toBe(410);
    // Waits just under 0.5, 1, 2, 4, 8 s, then 10 s each, then what is left: the last attempt lands on 70 s.
    expect(attempts).toEqual([0, 499, 1498, 3497, 7496, 15_495, 25_494, 35_493, 45_492, 55_491, 65_490, 70_000]);
    expect(retries).toBe(11);
  });

  it('honours a Retry-After longer than the drawn delay', async () => {
    const { attempts } = await run([http(429, 7000), http(503, 0), 'ok'], { random: () => 0.5 }, 10);
    expect(attempts).toEqual([0, 7000, 7500]); // 7 s as asked, then the drawn 500 ms (Retry-After 0 is shorter)
  });

  it('gives up when a Retry-After does not fit in what is left of the budget', async () => {
    const { outcome, attempts } = await run([http(503, 5000)], { budgetMs: 12_000 }, 10);
    expect(attempts).toEqual([0, 5000, 10_000]);
    expect((outcome.error as ImdsError).status).toBe(503);
  });

  it('shortens the last wait to the budget left', async () => {
    const { attempts } = await run([http(500)], { budgetMs: 1200, random: () => 1 - 1e-9, baseDelayMs: 1000 }, 1);
    expect(attempts).toEqual([0, 999, 1200]);
  });

  it('a zero budget means a single attempt', async () => {
    const { attempts } = await run([http(500)], { budgetMs: 0 });
    expect(attempts).toHaveLength(1);
  });
});

describe('fetchWithRetry: abort', () => {
  it('an abort during a backoff wait rejects at once with an aborted error and leaves no timer', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    let calls = 0;
    const promise = fetchWithRetry(
      async () => {
        calls++;
        throw http(500);
      },
      { endpoint: 'instance', budgetMs: 70_000, clock, random: () => 0.9, signal: controller.signal },
    );
    const settled = promise.catch((e: unknown) => e);
    await flush();
    expect(calls).toBe(1);
    expect(clock.pending()).toBe(1);
    controller.abort(new Error('shutting down'));
    const error = (await settled) as ImdsError;
    expect(error).toBeInstanceOf(ImdsError);
    expect(error.kind).toBe('aborted');
    expect(error.retryable).toBe(false);
    expect((error.cause as Error).message).toBe('shutting down');
    expect(clock.pending()).toBe(0);
    expect(calls).toBe(1);
  });

  it('an abort during an attempt that ignores the signal still rejects at once', async () => {
    const controller = new AbortController();
    const promise = fetchWithRetry(() => new Promise<string>(() => {}), {
      endpoint: 'instance',
      budgetMs: 70_000,
      clock: new FakeClock(),
      random: () => 0.5,
      signal: controller.signal,
    });
    const settled = promise.catch((e: unknown) => e);
    await flush();
    controller.abort();
    expect(await settled).toMatchObject({ kind: 'aborted' });
  });

  it('hands the signal to the operation', async () => {
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    await fetchWithRetry(
      async (signal) => {
        seen = signal;
        return 1;
      },
      { endpoint: 'instance', budgetMs: 1000, clock: new FakeClock(), random: () => 0.5, signal: controller.signal },
    );
    expect(seen).toBe(controller.signal);
  });

  it('an already-aborted signal never calls the operation', async () => {
    let calls = 0;
    const promise = fetchWithRetry(
      async () => {
        calls++;
        return 1;
      },
      { endpoint: 'instance', budgetMs: 1000, clock: new FakeClock(), random: () => 0.5, signal: AbortSignal.abort() },
    );
    await expect(promise).rejects.toMatchObject({ kind: 'aborted' });
    expect(calls).toBe(0);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2025, 0, 15, 12, 0, 0);
  it.each<{ header: string | string[] | undefined; ms: number | undefined }>([
    { header: undefined, ms: undefined },
    { header: '', ms: undefined },
    { header: '0', ms: 0 },
    { header: '7', ms: 7000 },
    { header: ' 120 ', ms: 120_000 },
    { header: ['3', '9'], ms: 3000 },
    { header: 'Wed, 15 Jan 2025 12:00:30 GMT', ms: 30_000 },
    { header: 'Wed, 15 Jan 2025 11:59:00 GMT', ms: 0 },
    { header: '-5', ms: undefined },
    { header: '1.5', ms: undefined },
    { header: 'soon', ms: undefined },
    // Capped at MAX_RETRY_AFTER_MS (5 min): a month of silence is not honoured.
    { header: '300', ms: 300_000 },
    { header: '301', ms: 300_000 },
    { header: '2592000', ms: 300_000 },
    { header: '99999999999999999999', ms: 300_000 },
    { header: 'Fri, 14 Feb 2025 12:00:00 GMT', ms: 300_000 },
  ])('$header → $ms', ({ header, ms }) => {
    expect(parseRetryAfter(header, now)).toBe(ms);
  });
});
