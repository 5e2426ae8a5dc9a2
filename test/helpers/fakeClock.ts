import { MAX_TIMER_MS, sleepOn, type Clock, type Timers } from '../../src/clock.ts';

/**
 * The suite's clocks, all implementing the product's Clock seam and sleeping through its
 * sleepOn (one timer at a time, long sleeps chained), so they differ only in how time passes.
 *
 * - FakeClock: time moves only when the test moves it (advance, jump). For unit tests.
 * - ScaledClock: real time, `factor` times faster than the wall clock. For runs of real
 *   processes and loopback I/O whose time must pass quicker (soak, warped benchmarks, fleet).
 * - SkipClock: every sleep moves time forward by its length and returns on the next turn of the
 *   event loop. For in-process runs whose waits are bounded by the work they wait for.
 */

interface Timer {
  at: number;
  fire: () => void;
}

/**
 * A Clock whose time moves only when a test advances it; it records every sleep asked of it. Its
 * timers behave as Node's do: a delay over MAX_TIMER_MS (or NaN) fires after 1 ms, so code that
 * sleeps long without chaining timers fails on fake time as it would in production. sleep()
 * chains them, as the system clock does.
 */
export class FakeClock implements Clock {
  private time: number;
  private timers: Timer[] = [];
  private waiters: { count: number; resolve: () => void }[] = [];
  /** Every duration passed to sleep(), in order. */
  readonly sleeps: number[] = [];
  /** Timers armed so far, chained steps of long sleeps included. */
  armed = 0;
  readonly #host: Timers = {
    set: (fire, ms) => {
      const timer: Timer = { at: this.time + nodeDelay(ms), fire };
      this.timers.push(timer);
      this.armed++;
      this.notify();
      return timer;
    },
    clear: (handle) => {
      this.timers = this.timers.filter((t) => t !== handle);
    },
  };
  constructor(start = Date.parse('2025-05-01T12:00:00Z')) {
    this.time = start;
  }
  now(): number {
    return this.time;
  }
  /** The raw timers, with Node's overflow rule: for tests of code that arms timers itself. */
  get host(): Timers {
    return this.#host;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return sleepOn(this.#host, ms, signal);
  }
  /** How many timers are pending. */
  pending(): number {
    return this.timers.length;
  }
  /** Resolves once at least `count` timers are pending. */
  waitForSleepers(count = 1): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push({ count, resolve });
      this.notify();
    });
  }
  /** Moves time forward, firing due timers in order and letting promise chains run between them. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    await flush();
    for (;;) {
      const next = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.time = Math.max(this.time, next.at);
      next.fire();
      await flush();
    }
    this.time = end;
    await flush();
  }
  /**
   * Moves time at once (backwards too, as a wall clock may) and fires every timer now due,
   * without waiting for what they do next: for code that reads now() rather than sleeping.
   */
  jump(ms: number): void {
    this.time += ms;
    const due = this.timers.filter((t) => t.at <= this.time);
    this.timers = this.timers.filter((t) => t.at > this.time);
    for (const timer of due) timer.fire();
  }
  private notify(): void {
    const ready = this.waiters.filter((w) => this.timers.length >= w.count);
    this.waiters = this.waiters.filter((w) => this.timers.length < w.count);
    for (const w of ready) w.resolve();
  }
}

/** What Node makes of a timer delay: over the limit or NaN is 1 ms; negative is 0 here, as before. */
function nodeDelay(ms: number): number {
  if (!(ms <= MAX_TIMER_MS)) return 1;
  return Math.max(0, ms);
}

/** Lets queued promise callbacks and I/O callbacks run. */
export async function flush(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

interface ScaledTimer {
  at: number;
  fire: () => void;
  cancelled: boolean;
}

/**
 * Time `factor` times faster than the wall clock, starting at the wall clock's; the factor may
 * change while sleeps are pending (they keep their wake-up time in this clock's time). Pending
 * sleeps sit in one heap behind one wall-clock timer, so 20,000 of them cost one timer.
 */
export class ScaledClock implements Clock {
  #factor: number;
  #origin = { wall: performance.now(), time: Date.now() };
  readonly #heap: ScaledTimer[] = [];
  #driver: NodeJS.Timeout | undefined;
  #nextAt = Infinity;

  constructor(factor: number) {
    this.#factor = factor;
  }

  get factor(): number {
    return this.#factor;
  }

  setFactor(factor: number): void {
    this.#origin = { wall: performance.now(), time: this.#exactNow() };
    this.#factor = factor;
    this.#drive();
  }

  now(): number {
    return Math.floor(this.#exactNow());
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this.#host, ms, signal);
  }

  readonly #host: Timers = {
    set: (fire, ms) => {
      const timer: ScaledTimer = { at: this.#exactNow() + ms, fire, cancelled: false };
      this.#push(timer);
      if (timer.at < this.#nextAt) this.#drive();
      return timer;
    },
    clear: (handle) => {
      (handle as ScaledTimer).cancelled = true;
    },
  };

  #exactNow(): number {
    return this.#origin.time + (performance.now() - this.#origin.wall) * this.#factor;
  }

  #drive(): void {
    if (this.#driver) clearTimeout(this.#driver);
    this.#driver = undefined;
    this.#nextAt = Infinity;
    const now = this.#exactNow();
    while (this.#heap.length && this.#heap[0]!.at <= now) {
      const timer = this.#pop();
      if (!timer.cancelled) timer.fire();
    }
    if (this.#heap.length) {
      this.#nextAt = this.#heap[0]!.at;
      this.#driver = setTimeout(() => this.#drive(), (this.#nextAt - now) / this.#factor);
    }
  }

  #push(timer: ScaledTimer): void {
    const heap = this.#heap;
    heap.push(timer);
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= heap[i]!.at) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  #pop(): ScaledTimer {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]!.at < heap[m]!.at) m = l;
        if (r < heap.length && heap[r]!.at < heap[m]!.at) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * Each sleep moves the clock forward by its length and resolves on the next turn of the event
 * loop, so a fault "for 60 s" and a retry budget of 70 s are measured on one time line in a
 * fraction of a second. Only for components whose sleeps are bounded by the work they wait for
 * (retries, the rate limiter), never for loops that sleep unconditionally.
 */
export class SkipClock implements Clock {
  #offset = 0;
  now(): number {
    return Date.now() + this.#offset;
  }
  /** Virtual time skipped so far. */
  get skippedMs(): number {
    return this.#offset;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      this.#offset += Math.max(0, ms);
      setImmediate(() => (signal?.aborted ? reject(signal.reason) : resolve()));
    });
  }
}
