import type { Clock } from '../../src/clock.ts';

interface Timer {
  at: number;
  resolve: () => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** A Clock whose time moves only when a test advances it. */
export class FakeClock implements Clock {
  private time: number;
  private timers: Timer[] = [];
  constructor(start = Date.parse('2025-05-01T12:00:00Z')) {
    this.time = start;
  }
  now(): number {
    return this.time;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer: Timer = { at: this.time + Math.max(0, ms), resolve, reject, signal };
      if (signal) {
        timer.onAbort = () => {
          this.timers = this.timers.filter((t) => t !== timer);
          reject(signal.reason);
        };
        signal.addEventListener('abort', timer.onAbort, { once: true });
      }
      this.timers.push(timer);
    });
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
      if (next.signal && next.onAbort) next.signal.removeEventListener('abort', next.onAbort);
      next.resolve();
      await flush();
    }
    this.time = end;
    await flush();
  }
}

/** Lets queued promise callbacks and I/O callbacks run. */
export async function flush(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}
