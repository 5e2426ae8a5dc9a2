import { configSchema } from '../../src/config/schema.ts';
import { METRIC_PREFIX } from '../../src/observability/metrics.ts';
import { memoryThresholdBytes } from './chartDefaults.ts';

/**
 * PromQL shared by the dashboards and the alerts, so a panel and the alert about the same thing
 * always compute it the same way. Every function takes `sel`, the label matchers that pick the
 * agent's targets (e.g. `job=~".*imds-labeler.*"` or `cluster=~"$cluster", job=~"$job"`).
 *
 * Aggregations use `without (...)` the metric's own labels, so whatever labels the scrape adds
 * (job, instance, namespace, pod, node, cluster) are kept and results from different metrics of
 * one target match one-to-one.
 */

/** Thresholds of the alerts, also drawn on the dashboards and used by its "stale or failing" table. */
export interface Thresholds {
  /** Stale: no successful IMDS fetch for this many poll periods. */
  stalePeriods: number;
  /** Failed IMDS requests (not counting 429) over all requests, in `window`. */
  imdsErrorRatio: number;
  /** IMDS answers with 429 over all requests, in `window`. */
  throttledRatio: number;
  /** Failed node patches over all patches, in `window`. */
  patchErrorRatio: number;
  /** Resident memory of the agent process (by default a share of the chart's memory limit). */
  memoryBytes: number;
  /** Range of the ratio alerts. */
  window: string;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  stalePeriods: 5,
  imdsErrorRatio: 0.25,
  throttledRatio: 0.1,
  patchErrorRatio: 0.5,
  memoryBytes: memoryThresholdBytes(),
  window: '15m',
};

export const DEFAULT_JOB_SELECTOR = 'job=~".*imds-labeler.*"';

/** A metric of the agent with matchers: `m('poll_period_seconds', sel)`. */
export const m = (name: string, sel: string, ...extra: string[]) => `${METRIC_PREFIX}${name}{${[sel, ...extra].filter(Boolean).join(', ')}}`;

/**
 * A process or Node.js runtime metric from prom-client's default collectors, which keep their
 * usual unprefixed names: `rt('process_resident_memory_bytes', sel)`.
 */
export const rt = (name: string, sel: string, ...extra: string[]) => `${name}{${[sel, ...extra].filter(Boolean).join(', ')}}`;

/**
 * Seconds since the last successful IMDS instance fetch. Before the first success the gauge is 0;
 * then the age counts from the process start, so a fresh pod is not stale at once and an agent
 * that never succeeded becomes stale after the same number of periods as one that stopped.
 */
export const staleness = (sel: string) =>
  `time() - (${m('imds_last_success_timestamp_seconds', sel)} > 0 or ${rt('process_start_time_seconds', sel)})`;

/** Seconds since the last reconcile pass that ended without error (counted from start before the first). */
export const reconcileAge = (sel: string) =>
  `time() - (${m('last_reconcile_timestamp_seconds', sel)} > 0 or ${rt('process_start_time_seconds', sel)})`;

/** Targets whose metadata is older than `periods` poll periods; the value is the age in seconds. */
export const stale = (sel: string, periods: number | string) =>
  `(${staleness(sel)}) > ${periods} * ${m('poll_period_seconds', sel)}`;

/**
 * Share of IMDS requests that failed, per target; 429s are left out (they have their own ratio).
 * `or ... * 0` makes the ratio 0, not absent, for a target that made requests without errors.
 */
export const imdsErrorRatio = (sel: string, window: string) =>
  `(sum without (imds_endpoint, class, code) (rate(${m('imds_errors_total', sel, 'code!="429"')}[${window}])) or ${requestRate(sel, window)} * 0) / ${requestRate(sel, window)}`;

/** Share of IMDS requests answered with 429, per target. */
export const throttledRatio = (sel: string, window: string) =>
  `(sum without (imds_endpoint) (rate(${m('imds_throttled_total', sel)}[${window}])) or ${requestRate(sel, window)} * 0) / ${requestRate(sel, window)}`;

/** Share of node patches that failed (not counting conflicts, which are retried), per target. */
export const patchErrorRatio = (sel: string, window: string) =>
  `sum without (result) (rate(${m('node_patches_total', sel, 'result="error"')}[${window}])) / sum without (result) (rate(${m('node_patches_total', sel)}[${window}]))`;

const requestRate = (sel: string, window: string) => `sum without (imds_endpoint, code) (rate(${m('imds_requests_total', sel)}[${window}]))`;

/** `up` without its metric name, so it merges with the other per-target results in a table. */
export const upByTarget = (sel: string) => `max without () (up{${sel}})`;

/**
 * Targets that are down, stale, or over an alert threshold right now (the alert conditions
 * without their `for:`): the row filter of the dashboard's problem table.
 */
export const problemTargets = (sel: string, t: Thresholds) =>
  [
    `${upByTarget(sel)} == 0`,
    stale(sel, t.stalePeriods),
    `${imdsErrorRatio(sel, t.window)} > ${t.imdsErrorRatio}`,
    `${throttledRatio(sel, t.window)} > ${t.throttledRatio}`,
    `${patchErrorRatio(sel, t.window)} > ${t.patchErrorRatio}`,
  ]
    .map((e) => `(${e})`)
    .join(' or ');

/** The event types the agent counts as disruptive by default (scheduledEvents.disruptive), as a regex. */
export const DISRUPTIVE_EVENT_TYPES = configSchema.parse({}).scheduledEvents.disruptive.join('|');

/**
 * Pending disruptive scheduled events, per target and event type, only where there is one: a
 * node Azure is about to reboot, redeploy, preempt or delete.
 */
export const pendingMaintenance = (sel: string) => `${m('scheduled_events_pending', sel, `event_type=~"${DISRUPTIVE_EVENT_TYPES}"`)} > 0`;

/** Scheduled-events polls missed: seconds since the last successful one, in poll periods. */
export const eventsStalePeriods = (sel: string) =>
  `(time() - ${m('scheduled_events_last_success_timestamp_seconds', sel)}) / ${m('scheduled_events_poll_period_seconds', sel)}`;
