import pRetry from 'p-retry';
import { AgentError, isRetryable } from '../agentError.ts';
import { IMDS_BACKOFF, budgetedRetries } from '../backoff.ts';
import type { Clock, Random } from '../clock.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { ImdsError, abortedError, type ImdsEndpoint } from './imdsError.ts';

/**
 * The retry policy of IMDS calls: p-retry runs the loop, src/backoff.ts says how long to wait.
 *
 * - Only errors the one classification (isRetryable) calls retryable are retried: 410, 429, 5xx,
 *   timeouts, resets, refusals. Anything else, DocumentError and unknown errors included, stops
 *   at once.
 * - Capped exponential backoff with full jitter (IMDS_BACKOFF unless overridden): the n-th retry
 *   (n from 0) waits random() * min(maxDelayMs, baseDelayMs * 2^n).
 * - A Retry-After from IMDS (already in the error as retryAfterMs) wins when it is longer than
 *   the drawn delay.
 * - All retries of one call fit in budgetMs, measured on the injected clock from the first
 *   attempt; IMDS asks for 410 to be retried for up to 70 s, the default budget. The last wait is
 *   shortened to what is left; a Retry-After that does not fit ends the retries instead.
 *
 * What p-retry does, and what it cannot. p-retry owns the loop: it numbers attempts, stops on
 * `signal` between every step, and asks `onFailedAttempt` and then `shouldRetry` after each
 * failure. Its own waits use the global setTimeout, and its time limit (maxRetryTime) reads
 * performance.now(); neither can take the injected Clock, and the agent's tests and benchmarks
 * run retries on fake or accelerated time. So its own timer is off (minTimeout 0: p-retry then
 * schedules no timer) and its count is unbounded (the budget, on the injected clock, ends the
 * run). After each failure onFailedAttempt draws the wait from budgetedRetries (src/backoff.ts)
 * and sleeps it on the injected clock, p-retry's documented place for a delay of one's own;
 * shouldRetry then answers from that same draw, so p-retry never waits a second time and a run
 * whose budget is spent never sleeps. An abort rejects promptly with an aborted ImdsError, even
 * when the attempt in flight ignores the signal, and leaves no timer behind.
 *
 * Every attempt goes through the caller's function, which takes its rate-limiter token itself:
 * retries can never outrun the process-wide limit.
 */

export interface RetryOptions {
  endpoint: ImdsEndpoint;
  /** How long retries of one call may go on, from the first attempt. */
  budgetMs: number;
  signal?: AbortSignal;
  clock: Clock;
  random: Random;
  metrics?: Pick<Metrics, 'imdsRetries'>;
  logger?: Pick<Logger, 'debug'>;
  /** First backoff ceiling; default IMDS_BACKOFF.baseMs (500 ms). */
  baseDelayMs?: number;
  /** Largest backoff ceiling; default IMDS_BACKOFF.capMs (10 s). */
  maxDelayMs?: number;
  /** Called with each error that is about to be retried, before the wait. */
  onRetry?: (error: unknown, attempt: number, waitMs: number) => void;
}

/** Resolves or rejects like `promise`, but rejects as soon as `signal` aborts. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

export async function fetchWithRetry<T>(
  fn: (signal: AbortSignal | undefined, attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const { endpoint, signal, clock, metrics, logger } = options;
  if (signal?.aborted) throw abortedError(endpoint, signal);
  const schedule = budgetedRetries(
    { baseMs: options.baseDelayMs ?? IMDS_BACKOFF.baseMs, capMs: options.maxDelayMs ?? IMDS_BACKOFF.capMs, budgetMs: options.budgetMs },
    clock,
    options.random,
  );
  let attempts = 0;
  /** The wait drawn after the latest failure; undefined when no retry follows. */
  let wait: number | undefined;

  try {
    return await pRetry(
      (n) => {
        attempts = n;
        return raceAbort(fn(signal, n), signal);
      },
      {
        retries: Number.POSITIVE_INFINITY,
        minTimeout: 0,
        signal,
        onFailedAttempt: async ({ error, attemptNumber }) => {
          wait = isRetryable(error) ? schedule.next(error instanceof AgentError ? error.retryAfterMs : undefined) : undefined;
          if (wait === undefined) return;
          logger?.debug({ endpoint, attempt: attemptNumber, code: error instanceof ImdsError ? error.code : undefined, waitMs: wait }, 'IMDS call failed; retrying');
          options.onRetry?.(error, attemptNumber, wait);
          await clock.sleep(wait, signal);
          metrics?.imdsRetries.inc({ imds_endpoint: endpoint });
        },
        shouldRetry: () => wait !== undefined,
      },
    );
  } catch (error) {
    if (signal?.aborted) {
      throw error instanceof ImdsError && error.kind === 'aborted' ? error : abortedError(endpoint, signal);
    }
    if (error instanceof ImdsError) error.attempts = attempts;
    throw error;
  }
}
