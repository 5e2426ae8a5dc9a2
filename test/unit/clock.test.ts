import { describe, expect, it } from 'vitest';
import { MAX_TIMER_MS, systemClock } from '../../src/clock.ts';
import { FakeClock, flush } from '../helpers/fakeClock.ts';
import { sleep } from '../helpers/wait.ts';

const DAY = 86_400_000;

/** Settles to 'resolved', 'rejected' or stays 'pending'. */
function track(promise: Promise<void>): () => string {
  let state = 'pending';
  promise.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  );
  return () => state;
}

describe('the fake clock models Node timers', () => {
  it.each([
    ['over the limit', MAX_TIMER_MS + 1],
    ['30 days', 30 * DAY],
    ['NaN', Number.NaN],
  ])('a raw timer of %s fires after 1 ms, as setTimeout does', async (_, ms) => {
    const clock = new FakeClock();
    let fired = 0;
    clock.host.set(() => fired++, ms);
    await clock.advance(1);
    expect(fired).toBe(1);
  });
});

describe('sleep of any length', () => {
  it.each([
    ['1 ms', 1, 1],
    ['the longest single timer', MAX_TIMER_MS, 1],
    ['one past it', MAX_TIMER_MS + 1, 2],
    ['30 days (a Retry-After of 2592000)', 30 * DAY, 2],
    ['700 hours', 700 * 3_600_000, 2],
    ['a year', 365 * DAY, 15],
  ])('%s lasts exactly that long', async (_, ms, timers) => {
    const clock = new FakeClock();
    const state = track(clock.sleep(ms));
    await clock.advance(ms - 1);
    expect(state()).toBe('pending');
    await clock.advance(1);
    expect(state()).toBe('resolved');
    expect(clock.armed).toBe(timers);
    expect(clock.pending()).toBe(0);
  });

  it('an abort in the middle of a chain rejects and leaves no timer', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const state = track(clock.sleep(60 * DAY, controller.signal));
    await clock.advance(MAX_TIMER_MS + 5);
    expect(state()).toBe('pending');
    controller.abort(new Error('stop'));
    await flush();
    expect(state()).toBe('rejected');
    expect(clock.pending()).toBe(0);
  });

  it('the system clock holds a 30-day sleep without an overflow warning, and an abort ends it', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const controller = new AbortController();
      const state = track(systemClock.sleep(30 * DAY, controller.signal));
      await sleep(30);
      expect(state()).toBe('pending');
      controller.abort(new Error('stop'));
      await flush();
      expect(state()).toBe('rejected');
      expect(warnings).not.toContain('TimeoutOverflowWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });
});
