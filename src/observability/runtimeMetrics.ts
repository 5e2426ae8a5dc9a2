import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Gauge, collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * How often the event-loop delay is sampled. prom-client's default, 10 ms, wakes the main thread
 * 100 times a second on every node of the fleet for a number nobody reads at that grain: it was
 * about 90 % of the idle agent's CPU (docs/performance.md). A block of the loop longer than this
 * still shows in the max and the upper percentiles; one second is 3,600 native wake-ups an hour.
 */
export const EVENT_LOOP_SAMPLE_MS = 1000;

/** A resolution at which prom-client's own monitor never fires (about 24 days). */
const NEVER_MS = 2 ** 31 - 1;

/** The event-loop delay gauges prom-client's default metrics have, with its help texts. */
const EVENT_LOOP_STATS: readonly [name: string, help: string, read: (h: ReturnType<typeof monitorEventLoopDelay>) => number, shifted: boolean][] = [
  ['nodejs_eventloop_lag_min_seconds', 'The minimum recorded event loop delay.', (h) => h.min, true],
  ['nodejs_eventloop_lag_max_seconds', 'The maximum recorded event loop delay.', (h) => h.max, true],
  ['nodejs_eventloop_lag_mean_seconds', 'The mean of the recorded event loop delays.', (h) => h.mean, true],
  ['nodejs_eventloop_lag_stddev_seconds', 'The standard deviation of the recorded event loop delays.', (h) => h.stddev, false],
  ['nodejs_eventloop_lag_p50_seconds', 'The 50th percentile of the recorded event loop delays.', (h) => h.percentile(50), true],
  ['nodejs_eventloop_lag_p90_seconds', 'The 90th percentile of the recorded event loop delays.', (h) => h.percentile(90), true],
  ['nodejs_eventloop_lag_p99_seconds', 'The 99th percentile of the recorded event loop delays.', (h) => h.percentile(99), true],
];

/**
 * prom-client's default metrics (process, heap, GC, handles, event loop), with the same names,
 * but the event-loop delay sampled every `sampleMs` instead of every 10 ms.
 *
 * Node.js's monitor records the time between two of its ticks, so at prom-client's 10 ms every
 * figure carried the 10 ms interval; here the interval is taken off and the gauges read how late
 * a tick came (0 when the loop is idle). Like prom-client's, they cover the time since the
 * previous scrape; a scrape before the first tick leaves them as they were.
 */
export function collectRuntimeMetrics(registry: Registry, prefix: string, sampleMs = EVENT_LOOP_SAMPLE_MS): void {
  collectDefaultMetrics({ register: registry, prefix, eventLoopMonitoringPrecision: NEVER_MS });
  for (const [name] of EVENT_LOOP_STATS) registry.removeSingleMetric(prefix + name);

  const histogram = monitorEventLoopDelay({ resolution: sampleMs });
  histogram.enable();
  const intervalNs = sampleMs * 1e6;
  const gauges = EVENT_LOOP_STATS.map(([name, help], i) => new Gauge({ name: prefix + name, help, registers: [registry], ...(i === 0 ? { collect } : {}) }));
  // The first gauge's collect sets them all (the registry reads it first), then starts a new window.
  function collect(): void {
    if (histogram.count === 0) return;
    EVENT_LOOP_STATS.forEach(([, , read, shifted], i) => gauges[i]!.set(Math.max(0, read(histogram) - (shifted ? intervalNs : 0)) / 1e9));
    histogram.reset();
  }
}
