import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  DEFAULT_THRESHOLDS,
  DISRUPTIVE_EVENT_TYPES,
  eventsStalePeriods,
  imdsErrorRatio,
  m,
  patchErrorRatio,
  pendingMaintenance,
  problemTargets,
  reconcileAge,
  rt,
  stale,
  staleness,
  throttledRatio,
  upByTarget,
  type Thresholds,
} from '../promql.ts';
import { RATE, SEL, statPanel, tablePanel, timeseriesPanel, variables } from './common.ts';

export const FLEET_UID = 'imds-labeler-fleet';

export interface FleetDashboardOptions {
  /** The alert thresholds, drawn on the panels and used to pick the rows of the problem table. */
  thresholds?: Partial<Thresholds>;
}

const pct = (x: number) => `${Math.round(x * 100)}%`;

/**
 * Fleet health of every agent the variables select: is every node labeled with fresh metadata,
 * how IMDS answers, what the agents write to the API server, and what they cost.
 */
export function fleetDashboard(options: FleetDashboardOptions = {}): dashboard.Dashboard {
  const t: Thresholds = { ...DEFAULT_THRESHOLDS, ...options.thresholds };
  const problems = problemTargets(SEL, t);
  const onlyProblems = (expr: string) => `(${expr}) and (${problems})`;
  const rate = (name: string, ...extra: string[]) => `rate(${m(name, SEL, ...extra)}[${RATE}])`;
  const rtRate = (name: string) => `rate(${rt(name, SEL)}[${RATE}])`;
  const fleetErrorRatio = `(sum(${rate('imds_errors_total', 'code!="429"')}) or vector(0)) / sum(${rate('imds_requests_total')})`;
  const fleetThrottledRatio = `(sum(${rate('imds_throttled_total')}) or vector(0)) / sum(${rate('imds_requests_total')})`;
  const perNode = '{{node}} {{pod}}';
  const quantile = (q: number) => ({
    expr: `histogram_quantile(${q}, sum by (le, imds_endpoint) (${rate('imds_request_duration_seconds_bucket')}))`,
    legend: `p${Math.round(q * 100)} {{imds_endpoint}}`,
  });

  const builder = new dashboard.DashboardBuilder('imds-labeler / Fleet')
    .uid(FLEET_UID)
    .description('Fleet health of imds-labeler: metadata freshness per node, IMDS latency, errors and throttling, node patches and label changes, agent memory and CPU.')
    .tags(['imds-labeler'])
    .time({ from: 'now-6h', to: 'now' })
    .refresh('1m')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .annotation(
      new dashboard.AnnotationQueryBuilder()
        .name('Annotations & Alerts')
        .datasource({ type: 'grafana', uid: '-- Grafana --' })
        .builtIn(1)
        .enable(true)
        .hide(true)
        .iconColor('rgba(0, 211, 255, 1)')
        .type('dashboard'),
    )
    .variables(variables())

    .withRow(new dashboard.RowBuilder('Overview'))
    .withPanel(
      statPanel({
        title: 'Agents up',
        description: 'Agent pods Prometheus scrapes successfully right now (`up == 1`). Compare with the number of nodes that should run the DaemonSet.',
        unit: 'none',
        targets: [{ expr: `sum(up{${SEL}})` }],
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      statPanel({
        title: 'Agents down',
        description: 'Agent pods Prometheus fails to scrape (`up == 0`): the pod is crashing, not ready, or its metrics port is unreachable. Alert: ImdsLabelerDown.',
        unit: 'none',
        targets: [{ expr: `count(up{${SEL}} == 0) or vector(0)` }],
        red: 1,
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      statPanel({
        title: 'Stale nodes',
        description: `Agents with no successful IMDS fetch for more than ${t.stalePeriods} of their poll periods: their node labels may be out of date. Alert: ImdsLabelerImdsStale.`,
        unit: 'none',
        targets: [{ expr: `count(${stale(SEL, t.stalePeriods)}) or vector(0)` }],
        red: 1,
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      statPanel({
        title: 'IMDS error ratio, all agents',
        description: `Failed IMDS requests over all IMDS requests across the selected agents, not counting 429s (see the throttling ratio). The per-node alert fires above ${pct(t.imdsErrorRatio)} over ${t.window}.`,
        unit: 'percentunit',
        targets: [{ expr: fleetErrorRatio }],
        warn: t.imdsErrorRatio / 5,
        red: t.imdsErrorRatio,
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      statPanel({
        title: 'IMDS 429 ratio, all agents',
        description: `IMDS requests answered with HTTP 429 (the VM sent more than 5 requests per second, counting every process on it) over all IMDS requests. The per-node alert fires above ${pct(t.throttledRatio)} over ${t.window}.`,
        unit: 'percentunit',
        targets: [{ expr: fleetThrottledRatio }],
        warn: t.throttledRatio / 5,
        red: t.throttledRatio,
        w: 4,
        h: 4,
      }),
    )
    .withPanel(
      statPanel({
        title: 'Agent versions',
        description: 'Agents running each version; more than one during a rollout.',
        unit: 'none',
        targets: [{ expr: `count by (version) (${m('build_info', SEL)})`, legend: '{{version}}' }],
        textMode: common.BigValueTextMode.ValueAndName,
        w: 4,
        h: 4,
      }),
    )

    .withRow(new dashboard.RowBuilder('Problems'))
    .withPanel(
      tablePanel({
        title: 'Nodes that are stale or failing',
        description: `One row per agent that is down, stale (no successful IMDS fetch for ${t.stalePeriods} poll periods), or over an alert threshold in the last ${t.window}: IMDS errors above ${pct(t.imdsErrorRatio)}, 429s above ${pct(t.throttledRatio)}, failed node patches above ${pct(t.patchErrorRatio)}. The alert conditions without their delay. Empty when the fleet is healthy.`,
        unit: 'none',
        labels: ['cluster', 'node', 'namespace', 'pod'],
        sortBy: 'Metadata age',
        columns: [
          { name: 'Up', unit: 'none', expr: onlyProblems(upByTarget(SEL)) },
          { name: 'Metadata age', unit: 's', expr: onlyProblems(staleness(SEL)) },
          { name: 'Poll period', unit: 's', expr: onlyProblems(`max without () (${m('poll_period_seconds', SEL)})`) },
          { name: `IMDS errors (${t.window})`, unit: 'percentunit', expr: onlyProblems(imdsErrorRatio(SEL, t.window)) },
          { name: `IMDS 429s (${t.window})`, unit: 'percentunit', expr: onlyProblems(throttledRatio(SEL, t.window)) },
          { name: `Failed patches (${t.window})`, unit: 'percentunit', expr: onlyProblems(patchErrorRatio(SEL, t.window)) },
          { name: 'Since last reconcile', unit: 's', expr: onlyProblems(reconcileAge(SEL)) },
        ],
        w: 24,
        h: 8,
      }),
    )

    .withRow(new dashboard.RowBuilder('IMDS'))
    .withPanel(
      timeseriesPanel({
        title: 'IMDS latency by endpoint',
        description: 'p50, p95 and p99 latency of IMDS requests across the selected agents, by IMDS endpoint, including failed requests. IMDS is link-local: answers normally take milliseconds; seconds mean the host is struggling or requests time out.',
        unit: 's',
        targets: [quantile(0.5), quantile(0.95), quantile(0.99)],
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'IMDS requests by status code',
        description: 'IMDS requests per second across the selected agents, by HTTP status code (or error name when no response came back).',
        unit: 'reqps',
        targets: [{ expr: `sum by (code) (${rate('imds_requests_total')})`, legend: '{{code}}' }],
        stack: true,
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'IMDS errors by code',
        description: 'Failed IMDS requests per second, by code and class: retryable errors are retried with backoff, fatal ones are not.',
        unit: 'reqps',
        targets: [{ expr: `sum by (class, code) (${rate('imds_errors_total')})`, legend: '{{code}} ({{class}})' }],
        stack: true,
        w: 8,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'IMDS error ratio',
        description: `Failed IMDS requests (not counting 429s) over all requests: all selected agents, and the 5 worst. The dashed line is the alert threshold (${pct(t.imdsErrorRatio)}, which the alert measures over ${t.window}).`,
        unit: 'percentunit',
        targets: [
          { expr: fleetErrorRatio, legend: 'all agents' },
          { expr: `topk(5, ${imdsErrorRatio(SEL, RATE)})`, legend: perNode },
        ],
        threshold: t.imdsErrorRatio,
        w: 8,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'IMDS throttling (HTTP 429)',
        description: 'IMDS answers with HTTP 429 per second, by IMDS endpoint. IMDS allows 5 requests per second per VM, shared by every pod on the node that calls it; sustained 429s mean something else on the node is calling IMDS too often.',
        unit: 'reqps',
        targets: [{ expr: `sum by (imds_endpoint) (${rate('imds_throttled_total')})`, legend: '{{imds_endpoint}}' }],
        stack: true,
        w: 8,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'IMDS retries, timeouts and api-version fallbacks',
        description: 'Per second: IMDS requests retried after a retryable error and requests that hit the connect or total timeout, by IMDS endpoint; and fallbacks to an older api-version after IMDS refused the configured one, by the version fallen back to.',
        unit: 'ops',
        targets: [
          { expr: `sum by (imds_endpoint) (${rate('imds_retries_total')})`, legend: 'retries {{imds_endpoint}}' },
          { expr: `sum by (imds_endpoint) (${rate('imds_timeouts_total')})`, legend: 'timeouts {{imds_endpoint}}' },
          { expr: `sum by (to_version) (${rate('imds_api_version_fallbacks_total')})`, legend: 'fallbacks to {{to_version}}' },
        ],
        w: 8,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Rate-limiter waits',
        description: "IMDS calls per second that waited for a token of the agent's own rate limiter, which keeps the agent well under the IMDS limit.",
        unit: 'ops',
        targets: [{ expr: `sum(${rate('imds_rate_limiter_waits_total')})`, legend: 'waits' }],
        w: 8,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Mean rate-limiter wait',
        description: 'Average time an IMDS call that had to wait spent waiting for a rate-limiter token.',
        unit: 's',
        targets: [{ expr: `sum(${rate('imds_rate_limiter_wait_seconds_total')}) / sum(${rate('imds_rate_limiter_waits_total')})`, legend: 'mean wait' }],
        w: 8,
        h: 8,
      }),
    )

    .withRow(new dashboard.RowBuilder('Freshness'))
    .withPanel(
      timeseriesPanel({
        title: 'Metadata age, 20 oldest',
        description: `Seconds since each agent last fetched instance metadata from IMDS successfully (counted from the pod start before its first success), for the 20 oldest. It normally stays under the poll period; the stale alert fires after ${t.stalePeriods} poll periods.`,
        unit: 's',
        targets: [{ expr: `topk(20, ${staleness(SEL)})`, legend: perNode }],
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Time since last reconcile, 20 oldest',
        description: 'Seconds since each agent last finished a reconcile pass without error (counted from the pod start before the first), for the 20 oldest. A periodic resync bounds it when nothing changes.',
        unit: 's',
        targets: [{ expr: `topk(20, ${reconcileAge(SEL)})`, legend: perNode }],
        w: 12,
        h: 8,
      }),
    )

    .withRow(new dashboard.RowBuilder('Kubernetes'))
    .withPanel(
      timeseriesPanel({
        title: 'Node patches by result',
        description: 'Node patches per minute across the selected agents, by result. Conflicts are retried; errors mean labels did not reach the node (alert: ImdsLabelerNodePatchesFailing).',
        unit: 'opm',
        targets: [{ expr: `sum by (result) (${rate('node_patches_total')}) * 60`, legend: '{{result}}' }],
        stack: true,
        w: 8,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Label changes by operation',
        description: 'Label and annotation keys the agents added, changed or removed on their nodes, per minute. Bursts follow rollouts, tag edits and VM changes; steady churn means two writers disagree about a label.',
        unit: 'cpm',
        targets: [{ expr: `sum by (operation) (${rate('label_changes_total')}) * 60`, legend: '{{operation}}' }],
        stack: true,
        w: 8,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Reconciles by result',
        description: 'Reconcile passes per minute, by result: unchanged, patched, dry_run or failed.',
        unit: 'opm',
        targets: [{ expr: `sum by (result) (${rate('reconciles_total')}) * 60`, legend: '{{result}}' }],
        stack: true,
        w: 8,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Kubernetes API requests',
        description: 'Requests per second from the agents to the API server, by verb and HTTP status code. The whole fleet adds this to the API server load.',
        unit: 'reqps',
        targets: [{ expr: `sum by (verb, code) (${rate('kube_requests_total')})`, legend: '{{verb}} {{code}}' }],
        stack: true,
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Node watch restarts by reason',
        description: 'Restarts of the node watch per minute, by reason: timeout (the server-side watch timeout ran out; expected), gone (HTTP 410, the resource version expired), error or watchdog. Sustained errors point at the API server or RBAC.',
        unit: 'cpm',
        targets: [{ expr: `sum by (reason) (${rate('watch_restarts_total')}) * 60`, legend: '{{reason}}' }],
        stack: true,
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Managed labels and annotations',
        description: 'Labels and annotations the agents own, summed over the selected nodes, and the number of nodes where the agent owns no label (the node is unlabeled).',
        unit: 'none',
        targets: [
          { expr: `sum(${m('managed_labels', SEL)})`, legend: 'labels' },
          { expr: `sum(${m('managed_annotations', SEL)})`, legend: 'annotations' },
          { expr: `count(${m('managed_labels', SEL)} == 0)`, legend: 'nodes without labels' },
        ],
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'VM tags left out of labels',
        description: 'VM tags not mapped to labels in the latest mapping, summed over the selected nodes, by reason. They stay in the tags annotation.',
        unit: 'none',
        targets: [{ expr: `sum by (reason) (${m('tags_skipped', SEL)})`, legend: '{{reason}}' }],
        stack: true,
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'IMDS values held or left as found',
        description:
          'Summed over the selected nodes: fields whose latest IMDS value cannot be written as it is (the last good label stays), by field and reason; keys another writer set first (left as they are).',
        unit: 'none',
        targets: [
          { expr: `sum by (field, reason) (${m('mapping_problems', SEL)})`, legend: '{{field}} {{reason}}' },
          { expr: `sum(${m('label_conflicts', SEL)})`, legend: 'keys set by another writer' },
        ],
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'IMDS answers refused and annotations dropped',
        description:
          'Per minute, all agents: IMDS answers that were no instance document (labels kept), by reason; node patches sent without the tags annotation because the node was near the 256 KiB limit.',
        unit: 'cpm',
        targets: [
          { expr: `sum by (reason) (${rate('imds_invalid_documents_total')}) * 60`, legend: '{{reason}}' },
          { expr: `sum(${rate('tags_annotation_dropped_total')}) * 60`, legend: 'tags annotation dropped' },
        ],
        w: 12,
        h: 8,
      }),
    )

    .withRow(new dashboard.RowBuilder('Scheduled maintenance'))
    .withPanel(
      statPanel({
        title: 'Nodes with pending maintenance',
        description: `Nodes whose VM has a scheduled event of a disruptive type pending (${DISRUPTIVE_EVENT_TYPES.replaceAll('|', ', ')}): Azure is about to reboot, redeploy, preempt or delete it (alert: ImdsLabelerMaintenancePending). Needs scheduledEvents.enabled.`,
        unit: 'short',
        targets: [{ expr: `count(max without (event_type) (${pendingMaintenance(SEL)})) or vector(0)`, legend: 'nodes' }],
        warn: 1,
        w: 6,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Pending scheduled events by type',
        description: 'Scheduled events pending for the VMs of the selected agents (only those naming the VM in Resources), by type. Freeze is a live migration, informational by default.',
        unit: 'short',
        targets: [{ expr: `sum by (event_type) (${m('scheduled_events_pending', SEL)})`, legend: '{{event_type}}' }],
        stack: true,
        w: 9,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Time to the next event, 20 soonest',
        description: 'Seconds until the NotBefore of the next pending event of each type, as of the last scheduled-events poll; 0 once it started. The node carries the <prefix>/MaintenanceScheduled condition and the <prefix>/scheduled-event annotation.',
        unit: 's',
        targets: [{ expr: `bottomk(20, ${m('scheduled_event_seconds_until_not_before', SEL)})`, legend: '{{node}} {{event_type}}' }],
        w: 9,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Scheduled-events answers missed, 20 worst',
        description: 'Time since the last successful scheduled-events poll, in poll periods, for the 20 worst agents. After 3 failed polls in a row the condition turns Unknown.',
        unit: 'short',
        targets: [{ expr: `topk(20, ${eventsStalePeriods(SEL)})`, legend: perNode }],
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Scheduled-events list changes, 20 busiest',
        description: 'How often DocumentIncarnation moved (the event list changed) per agent within each rate interval: events published, started, approved or gone.',
        unit: 'short',
        targets: [{ expr: `topk(20, changes(${m('scheduled_events_document_incarnation', SEL)}[${RATE}]))`, legend: perNode }],
        w: 12,
        h: 8,
      }),
    )

    .withRow(new dashboard.RowBuilder('Agent resources'))
    .withPanel(
      timeseriesPanel({
        title: 'Memory (RSS), 10 largest',
        description: `Resident memory of the agent process, for the 10 largest pods. The dashed line is the alert threshold (ImdsLabelerHighMemory).`,
        unit: 'bytes',
        targets: [{ expr: `topk(10, ${rt('process_resident_memory_bytes', SEL)})`, legend: perNode }],
        threshold: t.memoryBytes,
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'CPU, 10 busiest',
        description: 'CPU time the agent process uses (user and system), for the 10 busiest pods; 100% is one core.',
        unit: 'percentunit',
        targets: [{ expr: `topk(10, ${rtRate('process_cpu_seconds_total')})`, legend: perNode }],
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'JavaScript heap used, 10 largest',
        description: 'V8 heap in use, for the 10 largest pods. A steady climb across resyncs is a leak.',
        unit: 'bytes',
        targets: [{ expr: `topk(10, ${rt('nodejs_heap_size_used_bytes', SEL)})`, legend: perNode }],
        w: 12,
        h: 8,
      }),
    )
    .withPanel(
      timeseriesPanel({
        title: 'Event-loop lag p99, 10 worst',
        description: 'p99 delay of the Node.js event loop, for the 10 worst pods. Above about 100 ms the agent is CPU-starved (check the CPU limit) and timers, probes and IMDS timeouts drift.',
        unit: 's',
        targets: [{ expr: `topk(10, ${rt('nodejs_eventloop_lag_p99_seconds', SEL)})`, legend: perNode }],
        w: 12,
        h: 8,
      }),
    );

  const built = builder.build();
  // Stable ids in layout order: Grafana uses them in links and panel state.
  (built.panels ?? []).forEach((p, i) => {
    p.id = i + 1;
  });
  return built;
}
