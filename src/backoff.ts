import type { Random } from './clock.ts';

export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

/**
 * Capped exponential backoff with full jitter: uniform in [0, min(cap, base·2^attempt)), so a
 * fleet that failed together does not retry together. A server's Retry-After is a floor.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: Random, retryAfterMs?: number): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  const delay = Math.floor(random() * ceiling);
  return Math.max(delay, retryAfterMs ?? 0);
}

/** A period spread uniformly over [period·(1−jitter), period·(1+jitter)]; jitter in [0, 1). */
export function jittered(periodMs: number, jitter: number, random: Random): number {
  if (!(jitter >= 0 && jitter < 1)) throw new RangeError(`jitter must be in [0, 1), got ${jitter}`);
  return periodMs * (1 - jitter + 2 * jitter * random());
}

/**
 * Retry-After, in milliseconds: delta-seconds or an HTTP-date. Undefined when absent or
 * unreadable (negative or fractional numbers included).
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const header = Array.isArray(value) ? value[0] : value;
  if (header === undefined) return undefined;
  const trimmed = header.trim();
  if (trimmed === '') return undefined;
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // An HTTP-date always names a weekday and GMT; anything else is unreadable.
  if (!/[a-z]/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}
