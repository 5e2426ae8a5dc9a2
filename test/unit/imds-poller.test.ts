import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { InstanceDocument } from '../../src/imds/document.ts';
import { ImdsError } from '../../src/imds/imdsError.ts';
import { jittered } from '../../src/backoff.ts';
import { runPoller, type PollerOptions } from '../../src/imds/poller.ts';
import { FakeClock, flush } from '../helpers/fakeClock.ts';

const DOC: InstanceDocument = { compute: { vmSize: 'Standard_D4s_v5' } } as InstanceDocument;

interface Harness {
  clock: FakeClock;
  controller: AbortController;
  /** Fake-time offsets at which each fetch started. */
  starts: number[];
  documents: number;
  errors: unknown[];
  maxInFlight: number;
  done: Promise<void>;
  finished: () => boolean;
}

function start(options: Partial<PollerOptions> & { fetchMs?: number; fail?: (n: number) => boolean } = {}): Harness {
  const clock = new FakeClock();
  const controller = new AbortController();
  const origin = clock.now();
  let inFlight = 0;
  let finished = false;
  const h: Harness = {
    clock,
    controller,
    starts: [],
    documents: 0,
    errors: [],
    maxInFlight: 0,
    done: Promise.resolve(),
    finished: () => finished,
  };
  const fetch = async (signal: AbortSignal) => {
    const n = h.starts.length;
    h.starts.push(clock.now() - origin);
    inFlight++;
    h.maxInFlight = Math.max(h.maxInFlight, inFlight);
    try {
      if (options.fetchMs) await clock.sleep(options.fetchMs, signal);
      if (options.fail?.(n)) throw new ImdsError({ kind: 'http', endpoint: 'instance', status: 500, message: 'HTTP 500' });
      return DOC;
    } finally {
      inFlight--;
    }
  };
  h.done = runPoller({
    fetch,
    periodMs: 60_000,
    jitter: 0,
    clock,
    random: () => 0.5,
    signal: controller.signal,
    onDocument: () => {
      h.documents++;
    },
    onError: (error) => {
      h.errors.push(error);
    },
    ...options,
  }).then(() => {
    finished = true;
  });
  return h;
}

describe('runPoller', () => {
  it('fetches at once, then once per period', async () => {
    const h = start();
    await flush();
    expect(h.starts).toEqual([0]);
    await h.clock.advance(59_999);
    expect(h.starts).toHaveLength(1);
    await h.clock.advance(1);
    expect(h.starts).toEqual([0, 60_000]);
    await h.clock.advance(240_000);
    expect(h.starts).toEqual([0, 60_000, 120_000, 180_000, 240_000, 300_000]);
    expect(h.documents).toBe(6);
    h.controller.abort();
    await h.done;
  });

  it('waits initialDelayMs before the first fetch', async () => {
    const h = start({ initialDelayMs: 5000 });
    await h.clock.advance(4999);
    expect(h.starts).toHaveLength(0);
    await h.clock.advance(1);
    expect(h.starts).toEqual([5000]);
    await h.clock.advance(60_000);
    expect(h.starts).toEqual([5000, 65_000]);
    h.controller.abort();
    await h.done;
  });

  it('spreads periods uniformly over period ± jitter', async () => {
    const draws = [0, 1, 0.5, 0.25];
    let i = 0;
    const h = start({ jitter: 0.2, random: () => draws[i++ % draws.length]! });
    await h.clock.advance(300_000);
    const gaps = h.starts.slice(1).map((t, k) => t - h.starts[k]!);
    expect(gaps.slice(0, 4)).toEqual([48_000, 72_000, 60_000, 54_000]);
    h.controller.abort();
    await h.done;
  });

  it('measures the period from the start of a fetch', async () => {
    const h = start({ fetchMs: 10_000 });
    await h.clock.advance(180_000);
    expect(h.starts).toEqual([0, 60_000, 120_000, 180_000]);
    h.controller.abort();
    await h.done;
  });

  it('never overlaps: a fetch that outlasts its period is followed by a full period of quiet', async () => {
    const h = start({ fetchMs: 90_000 });
    await h.clock.advance(400_000);
    expect(h.maxInFlight).toBe(1);
    // 0-90 s fetch, 60 s quiet, 150-240 s fetch, 60 s quiet, 300-390 s fetch
    expect(h.starts).toEqual([0, 150_000, 300_000]);
    h.controller.abort();
    await h.done;
  });

  it('reports errors and keeps polling', async () => {
    const h = start({ fail: (n) => n % 2 === 0 });
    await h.clock.advance(240_000);
    expect(h.starts).toHaveLength(5);
    expect(h.errors).toHaveLength(3);
    expect(h.documents).toBe(2);
    expect(h.finished()).toBe(false);
    h.controller.abort();
    await h.done;
  });

  it('survives onDocument and onError that throw', async () => {
    const h = start({
      onDocument: () => {
        throw new Error('mapping bug');
      },
      onError: async () => {
        throw new Error('logging bug');
      },
    });
    await h.clock.advance(120_000);
    expect(h.starts).toHaveLength(3);
    expect(h.finished()).toBe(false);
    h.controller.abort();
    await h.done;
  });

  it('hands a document-callback failure to onError', async () => {
    const errors: unknown[] = [];
    const h = start({
      onDocument: () => {
        throw new Error('mapping bug');
      },
      onError: (e) => {
        errors.push(e);
      },
    });
    await flush();
    expect((errors[0] as Error).message).toBe('mapping bug');
    h.controller.abort();
    await h.done;
  });

  it('resolves when aborted between fetches, leaving no timer', async () => {
    const h = start();
    await h.clock.advance(30_000);
    h.controller.abort();
    await h.done;
    expect(h.clock.pending()).toBe(0);
    expect(h.errors).toHaveLength(0);
  });

  it('resolves when aborted during a fetch, without reporting the abort as an error', async () => {
    const h = start({ fetchMs: 10_000 });
    await h.clock.advance(5000);
    h.controller.abort();
    await h.done;
    expect(h.errors).toHaveLength(0);
    expect(h.documents).toBe(0);
    expect(h.clock.pending()).toBe(0);
  });

  it('resolves when aborted during the initial delay, without fetching', async () => {
    const h = start({ initialDelayMs: 10_000 });
    await h.clock.advance(5000);
    h.controller.abort();
    await h.done;
    expect(h.starts).toHaveLength(0);
  });

  it('never fetches with an already-aborted signal', async () => {
    const h = start({ signal: AbortSignal.abort() });
    await h.done;
    expect(h.starts).toHaveLength(0);
  });
});

describe('jittered', () => {
  it('stays within [period*(1-j), period*(1+j)]', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 3_600_000 }), fc.double({ min: 0, max: 0.5, noNaN: true }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (period, jitter, r) => {
        const value = jittered(period, jitter, () => r);
        expect(value).toBeGreaterThanOrEqual(period * (1 - jitter) - 1e-6);
        expect(value).toBeLessThanOrEqual(period * (1 + jitter) + 1e-6);
      }),
    );
  });

  it.each([
    { r: 0, expected: 48_000 },
    { r: 0.5, expected: 60_000 },
    { r: 1, expected: 72_000 },
  ])('random $r → $expected ms for 60 s ± 20 %', ({ r, expected }) => {
    expect(jittered(60_000, 0.2, () => r)).toBeCloseTo(expected);
  });

  it.each([-0.1, 1, 2, Number.NaN])('refuses jitter %s', (jitter) => {
    expect(() => jittered(1000, jitter, () => 0.5)).toThrow(RangeError);
  });
});
