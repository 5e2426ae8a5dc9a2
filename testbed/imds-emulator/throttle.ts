import type { Clock } from '../../src/clock.ts';

/**
 * IMDS's throttle: at most `limit` requests are answered in any sliding window of `windowMs`;
 * the others get 429. Throttled requests do not use up the budget. A limit of 0 disables it.
 */
export class SlidingWindowLimiter {
  #limit: number;
  readonly #windowMs: number;
  readonly #clock: Clock;
  /** Times of the admitted requests still inside the window, oldest first. */
  #admitted: number[] = [];

  constructor(limit: number, clock: Clock, windowMs = 1000) {
    SlidingWindowLimiter.#check(limit);
    this.#limit = limit;
    this.#clock = clock;
    this.#windowMs = windowMs;
  }

  static #check(limit: number) {
    if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`rate limit must be a whole number >= 0, got ${limit}`);
  }

  get limit(): number {
    return this.#limit;
  }

  set limit(limit: number) {
    SlidingWindowLimiter.#check(limit);
    this.#limit = limit;
  }

  /** True when the request may be served now; records it. */
  tryAcquire(): boolean {
    if (this.#limit === 0) return true;
    const now = this.#clock.now();
    while (this.#admitted.length > 0 && this.#admitted[0]! <= now - this.#windowMs) this.#admitted.shift();
    if (this.#admitted.length >= this.#limit) return false;
    this.#admitted.push(now);
    return true;
  }

  reset(): void {
    this.#admitted = [];
  }
}
