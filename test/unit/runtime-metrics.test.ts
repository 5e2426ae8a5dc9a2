import { Registry, collectDefaultMetrics } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { collectRuntimeMetrics } from '../../src/observability/runtimeMetrics.ts';
import { sleep } from '../helpers/wait.ts';

const PREFIX = 'imds_labeler_';

async function described(registry: Registry) {
  return (await registry.getMetricsAsJSON()).map((m) => ({ name: m.name, type: m.type, help: m.help })).sort((a, b) => a.name.localeCompare(b.name));
}

/** One gauge's value from a scrape of the whole registry, as Prometheus would read it. */
async function value(registry: Registry, name: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === PREFIX + name);
  if (!metric) throw new Error(`no metric ${name}`);
  return metric.values[0]?.value ?? Number.NaN;
}

describe('runtime metrics', () => {
  it("have prom-client's default metrics: same names, types and help", async () => {
    const ours = new Registry();
    collectRuntimeMetrics(ours, PREFIX);
    const theirs = new Registry();
    collectDefaultMetrics({ register: theirs, prefix: PREFIX });
    const names = await described(ours);
    expect(names.filter((m) => m.name.includes('eventloop'))).toHaveLength(8);
    expect(names).toEqual(await described(theirs));
  });

  it('leave the event-loop gauges unset when no tick came since the last scrape', async () => {
    const registry = new Registry();
    collectRuntimeMetrics(registry, PREFIX, 3_600_000);
    for (const stat of ['min', 'max', 'mean', 'p50', 'p99']) expect(await value(registry, `nodejs_eventloop_lag_${stat}_seconds`)).toBe(0);
  });

  it('read how late a tick came, not the sampling interval, and catch a block of the loop', async () => {
    const sampleMs = 50;
    const registry = new Registry();
    collectRuntimeMetrics(registry, PREFIX, sampleMs);
    await sleep(10 * sampleMs);
    const blockMs = 6 * sampleMs;
    const start = performance.now();
    while (performance.now() - start < blockMs);
    await sleep(3 * sampleMs);
    // A tick falls due during the block and fires at its end, at least blockMs - sampleMs late.
    expect(await value(registry, 'nodejs_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual((blockMs - sampleMs) / 1000);
    // Node.js records the time between ticks; with the interval left in, even the earliest tick would read sampleMs.
    expect(await value(registry, 'nodejs_eventloop_lag_min_seconds')).toBeLessThan(sampleMs / 1000);
  });

  it('start a new window at each scrape', async () => {
    const sampleMs = 20;
    const registry = new Registry();
    collectRuntimeMetrics(registry, PREFIX, sampleMs);
    await sleep(5 * sampleMs);
    const start = performance.now();
    while (performance.now() - start < 10 * sampleMs);
    await sleep(2 * sampleMs);
    const first = await value(registry, 'nodejs_eventloop_lag_max_seconds');
    await sleep(10 * sampleMs);
    expect(first).toBeGreaterThanOrEqual((9 * sampleMs) / 1000);
    expect(await value(registry, 'nodejs_eventloop_lag_max_seconds')).toBeLessThan(first);
  });
});
