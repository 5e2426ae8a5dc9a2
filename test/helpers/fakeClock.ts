import { MAX_TIMER_MS, sleepOn, type Clock, type Timers } from '../../src/clock.ts';

interface Timer {
  at: number;
  fire: () => void;
}

/**
 * A Clock whose time moves only when a test advances it. Its timers behave as Node's do: a delay
 * over MAX_TIMER_MS (or NaN) fires after 1 ms, so code that sleeps long without chaining timers
 * fails on fake time as it would in production. sleep() chains them, as the system clock does.
 */
export class FakeClock implements Clock {
  private time: number;
  private timers: Timer[] = [];
  /** Timers armed so far, chained steps of long sleeps included. */
  armed = 0;
  readonly #host: Timers = {
    set: (fire, ms) => {
      const timer: Timer = { at: this.time + nodeDelay(ms), fire };
      this.timers.push(timer);
      this.armed++;
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
    return sleepOn(this.#host, ms, signal);
  }
  pending(): number {
    return this.timers.length;
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
