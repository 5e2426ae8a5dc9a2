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
  const delay = random() * ceiling;
  return Math.max(delay, retryAfterMs ?? 0);
}

/** Uniform in [period·(1−jitter), period·(1+jitter)]. */
export function jittered(periodMs: number, jitter: number, random: Random): number {
  return periodMs * (1 - jitter + 2 * jitter * random());
}
