/** Time and timers, injected so the scheduler and the watchdog run on fake time in tests. */
export interface Clock {
  now(): number;
  /** Resolves after ms, or rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * The longest delay one Node timer holds: setTimeout runs anything longer (or NaN) after 1 ms,
 * with only a TimeoutOverflowWarning, so a 30-day Retry-After or a 700h setting would turn a
 * wait into a hot loop. Sleeps chain timers of at most this length instead.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** One-shot timers as a host provides them, each of at most MAX_TIMER_MS. */
export interface Timers {
  set(fire: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

/**
 * A sleep of any length on `timers`: one timer at a time, each at most MAX_TIMER_MS, re-armed
 * until the whole delay has passed. NaN and negative delays are 0; Infinity sleeps until abort.
 */
export function sleepOn(timers: Timers, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    let left = ms > 0 ? ms : 0;
    let handle: unknown;
    const onAbort = () => {
      timers.clear(handle);
      reject(signal!.reason);
    };
    const arm = () => {
      const step = Math.min(left, MAX_TIMER_MS);
      left -= step;
      handle = timers.set(() => {
        if (left > 0) return arm();
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, step);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    arm();
  });
}

const nodeTimers: Timers = {
  set: (fire, ms) => setTimeout(fire, ms),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleepOn(nodeTimers, ms, signal),
};

/** Uniform random in [0, 1); injected where jitter must be deterministic in tests. */
export type Random = () => number;
