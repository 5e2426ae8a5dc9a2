import { backoffDelay } from '../backoff.ts';
import pRetry from 'p-retry';
import type { Clock, Random } from '../clock.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { ImdsError, abortedError, isRetryable, type ImdsEndpoint } from './errors.ts';

/**
 * The retry policy of IMDS calls, on top of p-retry.
 *
 * - Only errors that say `retryable: true` are retried (410, 429, 5xx, timeouts, resets,
 *   refusals); anything else, DocumentError and unknown errors included, stops at once.
 * - Capped exponential backoff with full jitter: the n-th retry (n from 0) waits
 *   random() * min(maxDelayMs, baseDelayMs * 2^n).
 * - A Retry-After from IMDS (seconds or HTTP-date, already in the error as retryAfterMs) wins
 *   when it is longer than the drawn delay.
 * - All retries of one call fit in budgetMs, measured on the injected clock from the first
 *   attempt; IMDS asks for 410 to be retried for up to 70 s, the default budget. The last wait is
 *   shortened to what is left; a Retry-After that does not fit ends the retries instead.
 * - Waits run on the injected Clock (p-retry's own timer is off: minTimeout 0), so tests run on
 *   fake time and an abort cancels the wait without leaving a timer behind. An abort rejects
 *   promptly with an aborted ImdsError, even when the attempt in flight ignores the signal.
 *
 * Every attempt goes through the caller's function, which takes its rate-limiter token itself:
 * retries can never outrun the process-wide limit.
 */

export const DEFAULT_BASE_DELAY_MS = 500;
export const DEFAULT_MAX_DELAY_MS = 10_000;

export interface RetryOptions {
  endpoint: ImdsEndpoint;
  /** How long retries of one call may go on, from the first attempt. */
  budgetMs: number;
  signal?: AbortSignal;
  clock: Clock;
  random: Random;
  metrics?: Pick<Metrics, 'imdsRetries'>;
  logger?: Pick<Logger, 'debug'>;
  /** First backoff ceiling; default 500 ms. */
  baseDelayMs?: number;
  /** Largest backoff ceiling; default 10 s. */
  maxDelayMs?: number;
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
  const { endpoint, budgetMs, signal, clock, random, metrics, logger } = options;
  const baseDelayMs = options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
  const maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  if (signal?.aborted) throw abortedError(endpoint, signal);
  const start = clock.now();
  let retries = 0;
  let attempts = 0;
  const attempt = (n: number) => {
    attempts = n;
    return raceAbort(fn(signal, n), signal);
  };

  try {
    return await pRetry(attempt, {
      retries: Number.POSITIVE_INFINITY, // bounded by budgetMs below
      minTimeout: 0, // waits happen in shouldRetry, on the injected clock
      signal,
      shouldRetry: async ({ error, attemptNumber }) => {
        if (!isRetryable(error)) return false;
        const remaining = budgetMs - (clock.now() - start);
        if (remaining <= 0) return false;
        const drawn = backoffDelay(retries, { baseMs: baseDelayMs, capMs: maxDelayMs }, random);
        const retryAfterMs = error instanceof ImdsError ? error.retryAfterMs : undefined;
        let wait: number;
        if (retryAfterMs !== undefined && retryAfterMs > drawn) {
          if (retryAfterMs > remaining) return false;
          wait = retryAfterMs;
        } else {
          wait = Math.min(drawn, remaining);
        }
        logger?.debug(
          { endpoint, attempt: attemptNumber, code: (error as { code?: unknown }).code, waitMs: wait },
          'IMDS call failed; retrying',
        );
        await clock.sleep(wait, signal);
        retries++;
        metrics?.imdsRetries.inc({ imds_endpoint: endpoint });
        return true;
      },
    });
  } catch (error) {
    if (signal?.aborted) {
      throw error instanceof ImdsError && error.kind === 'aborted' ? error : abortedError(endpoint, signal);
    }
    if (error instanceof ImdsError) error.attempts = attempts;
    throw error;
  }
}
