import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_REQUESTS_PER_SECOND, RateLimiter, RateLimiterConfigError, RateLimiterError } from '../../src/imds/rateLimiter.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { FakeClock, flush } from '../helpers/fakeClock.ts';

/** The most acquisitions found in any closed 1-second window [t, t + 1000]. */
function busiestSecond(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let end = 0;
  for (let start = 0; start < sorted.length; start++) {
    while (end < sorted.length && sorted[end]! <= sorted[start]! + 1000) end++;
    best = Math.max(best, end - start);
  }
  return best;
}

/**
 * A retry storm: `callers` loops that each take a token and at once ask for the next one, while
 * fake time moves in the given steps. With `lullMs`, storms of lullMs alternate with lulls of
 * lullMs: at each lull every waiting caller gives up, so the bucket refills to its burst and the
 * next storm opens with a burst. Returns the time of every acquisition.
 */
async function storm(limiter: RateLimiter, clock: FakeClock, callers: number, steps: number[], lullMs = 0): Promise<number[]> {
  const times: number[] = [];
  const stop = new AbortController();
  let phase = new AbortController();
  let stormOn = Promise.resolve();
  let releaseStorm = () => {};
  const conductor = (async () => {
    if (lullMs <= 0) return;
    try {
      for (;;) {
        await clock.sleep(lullMs, stop.signal);
        stormOn = new Promise<void>((resolve) => (releaseStorm = resolve));
        phase.abort();
        await clock.sleep(lullMs, stop.signal);
        phase = new AbortController();
        releaseStorm();
      }
    } catch {
      releaseStorm();
    }
  })();
  const loops = Array.from({ length: callers }, async () => {
    while (!stop.signal.aborted) {
      await stormOn;
      try {
        await limiter.acquire(AbortSignal.any([stop.signal, phase.signal]));
      } catch {
        continue;
      }
      times.push(clock.now());
    }
  });
  for (const step of steps) await clock.advance(step);
  stop.abort();
  await Promise.all([conductor, ...loops]);
  await flush();
  expect(clock.pending()).toBe(0); // no timer outlives the storm
  return times;
}

describe('RateLimiter configuration', () => {
  it.each([
    { rps: 2, burst: 2, ok: true },
    { rps: 3, burst: 1, ok: true },
    { rps: 1, burst: 3, ok: true },
    { rps: 0.5, burst: 1, ok: true },
    { rps: 2.5, burst: 1, ok: true },
    { rps: 4, burst: 1, ok: false },
    { rps: 3, burst: 2, ok: false },
    { rps: 2, burst: 3, ok: false },
    { rps: 3.5, burst: 1, ok: false },
    { rps: 0, burst: 1, ok: false },
    { rps: -1, burst: 1, ok: false },
    { rps: Number.NaN, burst: 1, ok: false },
    { rps: 2, burst: 0, ok: false },
    { rps: 1, burst: 1.5, ok: false },
  ])('requestsPerSecond $rps, burst $burst: accepted = $ok', ({ rps, burst, ok }) => {
    const make = () => new RateLimiter({ requestsPerSecond: rps, burst, clock: new FakeClock() });
    if (ok) expect(make).not.toThrow();
    else expect(make).toThrow(RateLimiterConfigError);
  });
});

describe('RateLimiter', () => {
  it('hands out the burst at once, then one token per 1/rate seconds', async () => {
    const clock = new FakeClock();
    const metrics = createMetrics({ version: 'test' });
    const limiter = new RateLimiter({ requestsPerSecond: 2, burst: 2, clock, metrics });
    expect(limiter.available()).toBe(2);
    await limiter.acquire();
    await limiter.acquire();
    expect(limiter.available()).toBe(0);
    expect((await metrics.imdsRateLimiterTokens.get()).values[0]?.value).toBe(0);

    let third = false;
    void limiter.acquire().then(() => (third = true));
    await clock.advance(499);
    expect(third).toBe(false);
    await clock.advance(1);
    expect(third).toBe(true);
    expect((await metrics.imdsRateLimiterWaits.get()).values[0]?.value).toBe(1);
    expect((await metrics.imdsRateLimiterWaitSeconds.get()).values[0]?.value).toBeCloseTo(0.5);

    await clock.advance(10_000);
    expect(limiter.available()).toBe(2); // refills up to the burst, never beyond
  });

  it('serves waiters first come, first served', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ requestsPerSecond: 1, burst: 1, clock });
    await limiter.acquire();
    const order: number[] = [];
    const waits = [0, 1, 2, 3].map((i) => limiter.acquire().then(() => order.push(i)));
    await clock.advance(4000);
    await Promise.all(waits);
    expect(order).toEqual([0, 1, 2, 3]);
  });

  it('a caller arriving while others wait queues behind them', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ requestsPerSecond: 1, burst: 1, clock });
    await limiter.acquire();
    const order: string[] = [];
    const first = limiter.acquire().then(() => order.push('first'));
    await clock.advance(999);
    const late = limiter.acquire().then(() => order.push('late'));
    await clock.advance(2000);
    await Promise.all([first, late]);
    expect(order).toEqual(['first', 'late']);
  });

  it('an abort while waiting rejects with an aborted RateLimiterError and leaves no timer behind', async () => {
    const clock = new FakeClock();
    const metrics = createMetrics({ version: 'test' });
    const limiter = new RateLimiter({ requestsPerSecond: 1, burst: 1, clock, metrics });
    await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    await flush();
    expect(clock.pending()).toBe(1);
    controller.abort();
    const error = await waiting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimiterError);
    expect((error as RateLimiterError).kind).toBe('aborted');
    await flush();
    expect(clock.pending()).toBe(0);

    // The limiter still works after its queue emptied by abort, and the aborted call used no token.
    let next = false;
    void limiter.acquire().then(() => (next = true));
    await clock.advance(1000);
    expect(next).toBe(true);
  });

  it('an already-aborted signal takes no token', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ requestsPerSecond: 1, burst: 1, clock });
    await expect(limiter.acquire(AbortSignal.abort())).rejects.toMatchObject({ kind: 'aborted' });
    expect(limiter.available()).toBe(1);
  });

  it('aborting one waiter does not disturb the others', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ requestsPerSecond: 1, burst: 1, clock });
    await limiter.acquire();
    const controller = new AbortController();
    const got: string[] = [];
    const a = limiter.acquire(controller.signal).then(() => got.push('a'), () => got.push('a aborted'));
    const b = limiter.acquire().then(() => got.push('b'));
    await clock.advance(500);
    controller.abort();
    await clock.advance(500);
    await Promise.all([a, b]);
    expect(got).toEqual(['a aborted', 'b']);
  });

  // The invariant: no 1-second window ever sees more than 4 acquisitions, under any storm.
  it.each([
    { rps: 2, burst: 2 },
    { rps: 3, burst: 1 },
    { rps: 1, burst: 3 },
    { rps: 2.5, burst: 1 },
    { rps: 1.5, burst: 2 },
    { rps: 0.7, burst: 2 },
  ])('retry storm at $rps/s burst $burst: at most 4 in any sliding second', async ({ rps, burst }) => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ requestsPerSecond: rps, burst, clock });
    // Fine steps, coarse steps and long idle gaps (which refill the bucket to its burst).
    const steps = [...Array<number>(400).fill(7), ...Array<number>(20).fill(333), 5000, ...Array<number>(50).fill(50), 2500, ...Array<number>(10).fill(1000)];
    const times = await storm(limiter, clock, 25, steps);
    const busiest = busiestSecond(times);
    expect(busiest).toBeLessThanOrEqual(MAX_REQUESTS_PER_SECOND);
    expect(busiest).toBeLessThanOrEqual(5);
    expect(busiest).toBeLessThanOrEqual(Math.floor(rps + burst));
    // The bound is reached, not just respected: the burst plus what one second earns.
    expect(busiest).toBe(burst + Math.floor(1000 / limiter.tokenCostMs));
    // Not starved either: over the whole run the storm got about rate * time tokens.
    const seconds = steps.reduce((a, b) => a + b, 0) / 1000;
    expect(times.length).toBeGreaterThanOrEqual(Math.floor(rps * seconds * 0.9));
    expect(times.length).toBeLessThanOrEqual(Math.ceil(burst + rps * seconds));
  });

  it.each([
    { rps: 2, burst: 2, lullMs: 3000 },
    { rps: 1, burst: 3, lullMs: 5000 },
    { rps: 3, burst: 1, lullMs: 1500 },
  ])('storms separated by lulls ($lullMs ms) at $rps/s burst $burst: each opens with a burst, still at most 4 in a second', async ({ rps, burst, lullMs }) => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ requestsPerSecond: rps, burst, clock });
    const steps = [...Array<number>(600).fill(50), ...Array<number>(200).fill(111)];
    const start = clock.now();
    const times = await storm(limiter, clock, 30, steps, lullMs);
    const bound = burst + Math.floor(1000 / limiter.tokenCostMs);
    expect(busiestSecond(times)).toBeLessThanOrEqual(MAX_REQUESTS_PER_SECOND);
    expect(busiestSecond(times)).toBe(bound);
    // Every storm opened at the bound: the lulls really refilled the bucket.
    const storms = Math.floor((clock.now() - start) / (2 * lullMs));
    expect(storms).toBeGreaterThanOrEqual(5);
    for (let k = 0; k < storms; k++) {
      const from = start + 2 * k * lullMs;
      expect(times.filter((t) => t >= from && t <= from + 1000)).toHaveLength(bound);
    }
  });

  it('property: any valid setting, any arrival pattern, never more than 4 in a second', async () => {
    const setting = fc
      .record({ rps: fc.double({ min: 0.1, max: 3, noNaN: true }), burst: fc.integer({ min: 1, max: 3 }) })
      .filter(({ rps, burst }) => rps + burst <= MAX_REQUESTS_PER_SECOND);
    await fc.assert(
      fc.asyncProperty(
        setting,
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.integer({ min: 0, max: 1500 }), { minLength: 5, maxLength: 40 }),
        fc.constantFrom(0, 700, 2000),
        async ({ rps, burst }, callers, steps, lullMs) => {
          const clock = new FakeClock();
          const limiter = new RateLimiter({ requestsPerSecond: rps, burst, clock });
          const times = await storm(limiter, clock, callers, steps, lullMs);
          expect(busiestSecond(times)).toBeLessThanOrEqual(MAX_REQUESTS_PER_SECOND);
        },
      ),
      { numRuns: 40 },
    );
  });
});
