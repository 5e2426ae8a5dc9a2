import { jittered } from '../backoff.ts';
import type { Clock, Random } from '../clock.ts';
import type { InstanceDocument } from './document.ts';

/**
 * The poll loop (of the instance document, and of scheduled events): fetch at once (after initialDelayMs), then once every period ± jitter, one
 * fetch at a time. Errors go to onError and the loop goes on; only the signal ends it.
 *
 * Periods are measured from the start of a fetch, so a slow answer does not stretch the cycle.
 * A fetch that outlasts its period (a long retry run) is followed by a full jittered period of
 * quiet, never by an immediate new fetch: a failing IMDS does not see retry runs back to back.
 */

export interface PollerOptions<T = InstanceDocument> {
  fetch: (signal: AbortSignal) => Promise<T>;
  periodMs: number;
  /** Fraction of the period, in [0, 1): each wait is uniform in [period*(1-j), period*(1+j)]. */
  jitter: number;
  /** Wait before the first fetch; default 0. */
  initialDelayMs?: number;
  clock: Clock;
  random: Random;
  signal: AbortSignal;
  onDocument: (document: T) => void | Promise<void>;
  onError: (error: unknown) => void | Promise<void>;
}

/** Resolves when the signal aborts; never rejects for a fetch or callback failure. */
export async function runPoller<T = InstanceDocument>(options: PollerOptions<T>): Promise<void> {
  const { clock, random, signal } = options;
  if (!(options.periodMs > 0)) throw new RangeError(`periodMs must be positive, got ${options.periodMs}`);
  checkJitter(options.jitter);

  if (!(await pause(clock, options.initialDelayMs ?? 0, signal))) return;

  while (!signal.aborted) {
    const started = clock.now();
    try {
      const document = await options.fetch(signal);
      if (signal.aborted) return;
      await options.onDocument(document);
    } catch (error) {
      if (signal.aborted) return;
      try {
        await options.onError(error);
      } catch {
        // onError must not be able to stop the loop.
      }
    }
    const period = jittered(options.periodMs, options.jitter, random);
    const left = started + period - clock.now();
    if (!(await pause(clock, left > 0 ? left : period, signal))) return;
  }
}

function checkJitter(jitter: number): void {
  if (!(jitter >= 0 && jitter < 1)) throw new RangeError(`jitter must be in [0, 1), got ${jitter}`);
}

/** Sleeps; false when the signal aborted. */
async function pause(clock: Clock, ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  if (ms <= 0) return true;
  try {
    await clock.sleep(ms, signal);
    return true;
  } catch {
    return !signal.aborted;
  }
}
