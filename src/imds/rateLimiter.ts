import type { Clock } from '../clock.ts';
import type { Metrics } from '../observability/metrics.ts';
import { AgentError } from '../agentError.ts';

/**
 * The one token bucket every IMDS call of the process goes through: instance polls, their
 * retries, the api-version fallback and any later scheduled-events or attestation call.
 *
 * INVARIANT: no window of one second (closed, sliding, anywhere in time) ever holds more than
 * MAX_REQUESTS_PER_SECOND (4) acquisitions, one below IMDS's throttle of 5 requests per second.
 *
 * Why it holds. Time is counted in whole milliseconds: a token costs T = ceil(1000 / rate) ms of
 * credit, credit grows by 1 per ms and is capped at burst * T. Over a closed window of W ms the
 * bucket can spend at most what it held at the start (<= burst * T) plus what it earned inside
 * (W), so n acquisitions satisfy n * T <= burst * T + W, i.e. n <= burst + W / T
 * <= burst + W * rate / 1000. For W = 1000 that is burst + rate, and the constructor refuses any
 * configuration where burst + rate > 4. Rounding T up only ever slows the bucket down, and integer
 * credit keeps floating-point drift from minting an early token.
 *
 * Waiters are served first come, first served; a caller that arrives while others wait queues
 * behind them even if a token has just appeared.
 */

export const MAX_REQUESTS_PER_SECOND = 4;

export interface RateLimiterOptions {
  requestsPerSecond: number;
  burst: number;
  clock: Clock;
  metrics?: Pick<Metrics, 'imdsRateLimiterTokens' | 'imdsRateLimiterWaits' | 'imdsRateLimiterWaitSeconds'>;
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
  since: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * A wait for a token that ended before a token came: the caller's signal aborted. The IMDS client
 * turns it into an aborted ImdsError for the endpoint it was calling.
 */
export class RateLimiterError extends AgentError<'aborted'> {
  readonly kind = 'aborted';
  readonly retryable = false;
  constructor(signal: AbortSignal) {
    super('IMDS rate limiter: the wait for a token was aborted', { cause: signal.reason });
    this.name = 'RateLimiterError';
  }
}

export class RateLimiterConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RateLimiterConfigError';
  }
}

/** Throws RateLimiterConfigError unless the settings keep every 1-second window at or under 4 requests. */
export function validateRateLimit(requestsPerSecond: number, burst: number): void {
  if (!(Number.isFinite(requestsPerSecond) && requestsPerSecond > 0)) {
    throw new RateLimiterConfigError(`requestsPerSecond must be a positive number, got ${requestsPerSecond}`);
  }
  if (!(Number.isInteger(burst) && burst >= 1)) {
    throw new RateLimiterConfigError(`burst must be a whole number of at least 1, got ${burst}`);
  }
  if (requestsPerSecond + burst > MAX_REQUESTS_PER_SECOND) {
    throw new RateLimiterConfigError(
      `requestsPerSecond + burst is ${requestsPerSecond + burst}; it must stay at or below ${MAX_REQUESTS_PER_SECOND}, under IMDS's limit of 5 per second`,
    );
  }
}

export class RateLimiter {
  /** Milliseconds of credit one token costs. */
  readonly tokenCostMs: number;
  readonly burst: number;
  readonly #capacity: number;
  readonly #clock: Clock;
  readonly #metrics: RateLimiterOptions['metrics'];
  #credit: number;
  #updatedAt: number;
  readonly #queue: Waiter[] = [];
  /** Cancels the pump's sleep when the last waiter leaves, so no timer outlives the queue. */
  #pumpAbort: AbortController | undefined;

  constructor(options: RateLimiterOptions) {
    validateRateLimit(options.requestsPerSecond, options.burst);
    this.tokenCostMs = Math.ceil(1000 / options.requestsPerSecond);
    this.burst = options.burst;
    this.#capacity = this.burst * this.tokenCostMs;
    this.#clock = options.clock;
    this.#metrics = options.metrics;
    this.#credit = this.#capacity;
    this.#updatedAt = this.#clock.now();
    this.#report();
  }

  /** Whole tokens that could be taken right now without waiting (0 while callers are queued). */
  available(): number {
    this.#refill();
    if (this.#queue.length > 0) return 0;
    return Math.floor(this.#credit / this.tokenCostMs);
  }

  /** Resolves once a token is taken; rejects with a RateLimiterError when the signal aborts first. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new RateLimiterError(signal));
    this.#refill();
    if (this.#queue.length === 0 && this.#credit >= this.tokenCostMs) {
      this.#credit -= this.tokenCostMs;
      this.#report();
      return Promise.resolve();
    }
    this.#metrics?.imdsRateLimiterWaits.inc();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, since: this.#clock.now(), signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => {
          const index = this.#queue.indexOf(waiter);
          if (index >= 0) this.#queue.splice(index, 1);
          this.#recordWait(waiter);
          if (this.#queue.length === 0) this.#pumpAbort?.abort();
          reject(new RateLimiterError(signal));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#queue.push(waiter);
      // A pump that was just told to stop may not have unwound yet: start a fresh one.
      if (!this.#pumpAbort || this.#pumpAbort.signal.aborted) void this.#pump();
    });
  }

  #refill(): void {
    const now = this.#clock.now();
    // Whole milliseconds only: a fractional clock must not earn fractional credit.
    const elapsed = Math.floor(now - this.#updatedAt);
    if (elapsed > 0) {
      this.#credit = Math.min(this.#capacity, this.#credit + elapsed);
      this.#updatedAt += elapsed;
    } else if (elapsed < 0) {
      // The clock went backwards: restart the count from here without minting credit.
      this.#updatedAt = now;
    }
  }

  /** Hands tokens to waiters in order, sleeping until the next token is due. */
  async #pump(): Promise<void> {
    const controller = new AbortController();
    this.#pumpAbort = controller;
    try {
      while (this.#queue.length > 0) {
        this.#refill();
        if (this.#credit >= this.tokenCostMs) {
          const waiter = this.#queue.shift()!;
          this.#credit -= this.tokenCostMs;
          if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener('abort', waiter.onAbort);
          this.#recordWait(waiter);
          this.#report();
          waiter.resolve();
          continue;
        }
        try {
          await this.#clock.sleep(this.tokenCostMs - this.#credit, controller.signal);
        } catch {
          if (controller.signal.aborted) return;
        }
      }
    } finally {
      if (this.#pumpAbort === controller) this.#pumpAbort = undefined;
    }
  }

  #recordWait(waiter: Waiter): void {
    this.#metrics?.imdsRateLimiterWaitSeconds.inc(Math.max(0, this.#clock.now() - waiter.since) / 1000);
  }

  #report(): void {
    this.#metrics?.imdsRateLimiterTokens.set(this.#queue.length > 0 ? 0 : Math.floor(this.#credit / this.tokenCostMs));
  }
}
