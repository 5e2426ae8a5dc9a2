import type { Clock, Random } from './clock.ts';

/**
 * The one home of the agent's backoff: every retry of an IMDS or Kubernetes call waits what these
 * functions say, with the ceilings below.
 */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

/** IMDS calls: short ceilings, for a link-local service that IMDS asks to retry for up to 70 s. */
export const IMDS_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 10_000 };
/** The node list and watch: a fleet that lost the API server spreads its re-lists over 30 s. */
export const KUBE_READ_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 30_000 };
/** Node patches: the first retry comes sooner, the ceiling is the same. */
export const KUBE_WRITE_BACKOFF: BackoffPolicy = { baseMs: 200, capMs: 30_000 };
/** The pause before re-reading the node after a failed read that followed a conflict. */
export const KUBE_REREAD_BACKOFF: BackoffPolicy = { baseMs: 200, capMs: 5_000 };
/** Retries of the uninstall cleanup, which runs as a Helm hook with a deadline: a short ceiling. */
export const KUBE_CLEANUP_BACKOFF: BackoffPolicy = { baseMs: 200, capMs: 5_000 };

/**
 * The longest Retry-After honoured, from IMDS or the Kubernetes API. A server (or whatever sits
 * in between) asking for more — a month, say — would otherwise silence the agent for that long;
 * past this the agent asks again, still at the server's pace of once per this period.
 */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/** A server's Retry-After as the agent honours it: at most MAX_RETRY_AFTER_MS. */
export function honouredRetryAfter(ms: number): number {
  return Math.min(Math.max(0, ms), MAX_RETRY_AFTER_MS);
}

/**
 * Capped exponential backoff with full jitter: uniform in [0, min(cap, base·2^attempt)), so a
 * fleet that failed together does not retry together. A server's Retry-After is a floor, up to
 * MAX_RETRY_AFTER_MS.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: Random, retryAfterMs?: number): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  const delay = Math.floor(random() * ceiling);
  return Math.max(delay, retryAfterMs === undefined ? 0 : honouredRetryAfter(retryAfterMs));
}

/**
 * The waits of one call's retries when all of them must fit in a budget measured on the injected
 * clock from the first attempt (IMDS: 410 is retried for up to 70 s). next() gives the wait before
 * the next attempt, or undefined when the budget is spent:
 * - the drawn delay is backoffDelay's, the n-th retry drawing with attempt n;
 * - a Retry-After longer than the drawn delay wins, but one that does not fit in what is left of
 *   the budget ends the retries instead of being cut short (the server said "not before");
 * - otherwise the last wait is shortened to what is left, so the last attempt lands on the budget.
 */
export function budgetedRetries(policy: BackoffPolicy & { budgetMs: number }, clock: Clock, random: Random): { next(retryAfterMs?: number): number | undefined } {
  const start = clock.now();
  let retries = 0;
  return {
    next(retryAfterMs) {
      const remaining = policy.budgetMs - (clock.now() - start);
      if (remaining <= 0) return undefined;
      const drawn = backoffDelay(retries, policy, random);
      let wait: number;
      if (retryAfterMs !== undefined && retryAfterMs > drawn) {
        if (retryAfterMs > remaining) return undefined;
        wait = retryAfterMs;
      } else {
        wait = Math.min(drawn, remaining);
      }
      retries++;
      return wait;
    },
  };
}

/** A period spread uniformly over [period·(1−jitter), period·(1+jitter)]; jitter in [0, 1). */
export function jittered(periodMs: number, jitter: number, random: Random): number {
  if (!(jitter >= 0 && jitter < 1)) throw new RangeError(`jitter must be in [0, 1), got ${jitter}`);
  return periodMs * (1 - jitter + 2 * jitter * random());
}

/**
 * Retry-After, in milliseconds: delta-seconds or an HTTP-date, capped at MAX_RETRY_AFTER_MS.
 * Undefined when absent or unreadable (negative or fractional numbers included).
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const header = Array.isArray(value) ? value[0] : value;
  if (header === undefined) return undefined;
  const trimmed = header.trim();
  if (trimmed === '') return undefined;
  if (/^\d+$/.test(trimmed)) return honouredRetryAfter(Number(trimmed) * 1000);
  // An HTTP-date always names a weekday and GMT; anything else is unreadable.
  if (!/[a-z]/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return honouredRetryAfter(at - nowMs);
}
