import type { Registry } from 'prom-client';
import { createMetrics, METRIC_PREFIX } from '../../src/observability/metrics.ts';

/**
 * The metrics reference (docs/metrics.md), read from the registry itself: names, types, help and
 * label names cannot drift from the code. What the registry cannot say (what a label means, which
 * metrics only exist on Linux) is in the tables below, and tests fail when a label or metric is
 * missing from them.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

export interface MetricReference {
  name: string;
  type: MetricType;
  help: string;
  labels: string[];
  /** Histogram upper bounds, in the metric's unit. */
  buckets?: number[];
  /** agent: the agent's own metrics; runtime: process and Node.js metrics from prom-client. */
  group: 'agent' | 'runtime';
  linuxOnly?: boolean;
}

/** What each label means; every label of every metric must be here. */
export const LABEL_DOCS: Readonly<Record<string, string>> = {
  imds_endpoint:
    'IMDS endpoint the request was for, from a fixed set of names: `instance` (`/metadata/instance`, polled every `poll.period`) and `scheduledevents` (`/metadata/scheduledevents`, polled every `scheduledEvents.period` when `scheduledEvents.enabled` is on); the client names its other IMDS resources `versions` and `attested`.',
  code:
    'On the IMDS metrics: the HTTP status IMDS answered (`200`, `400`, `404`, `410`, `429`, `500`, ...), or why no answer came back: `timeout` (no complete answer within the request timeout), `connect_timeout` (no connection within the connect timeout), `reset` (connection reset, or closed before the end of the body), `refused` (connection refused), `unreachable` (host or network unreachable), `network` (another socket error), `aborted` (the agent was stopping; on `imds_requests_total` and the latency histogram only, never counted as an error). `imds_errors_total` also has `schema` (an answer that is not JSON or not an instance document) and `too_large` (a body over the size cap; `imds_requests_total` counts it under its HTTP status). On `kube_requests_total`: the HTTP status, or `network`, `aborted` or `other` when none came back.',
  class: '`retryable` (the client retries the request with backoff) or `fatal` (it does not).',
  to_version: 'IMDS api-version the client fell back to.',
  event_type: 'Azure scheduled event type: `Freeze`, `Reboot`, `Redeploy`, `Preempt` or `Terminate` (a type Azure adds later shows under its own name).',
  result: 'Outcome; the values are listed in the metric\'s description.',
  operation: '`added`, `changed` or `removed`.',
  verb: 'Kubernetes API verb (for example `get`, `patch`, `watch`).',
  reason: 'Why; the values are listed in the metric\'s description.',
  field: 'The IMDS field a value came from, such as `compute.vmSize`: one of the fields in docs/labels.md.',
  version: 'Version string (agent version on `build_info`, Node.js version on `nodejs_version_info`).',
  revision: 'Source revision (commit) the agent was built from, `unknown` when the build did not know it.',
  nodejs_version: 'Node.js version running the agent.',
  type: 'Node.js async resource or libuv handle/request type.',
  space: 'V8 heap space (`new`, `old`, `code`, ...).',
  kind: 'Garbage collection kind: `major`, `minor`, `incremental` or `weakcb`.',
  major: 'Node.js major version.',
  minor: 'Node.js minor version.',
  patch: 'Node.js patch version.',
};

/**
 * prom-client registers these only on Linux. They are listed here so the reference is the same
 * whatever platform generates it; the agent itself only runs on Linux nodes.
 */
export const LINUX_ONLY: readonly Omit<MetricReference, 'group'>[] = [
  { name: 'process_virtual_memory_bytes', type: 'gauge', help: 'Virtual memory size in bytes.', labels: [] },
  { name: 'process_heap_bytes', type: 'gauge', help: 'Process heap size in bytes.', labels: [] },
  { name: 'process_open_fds', type: 'gauge', help: 'Number of open file descriptors.', labels: [] },
  { name: 'process_max_fds', type: 'gauge', help: 'Maximum number of open file descriptors.', labels: [] },
];

interface MetricInternals {
  name: string;
  help: string;
  labelNames?: readonly string[];
  upperBounds?: readonly number[];
  get(): Promise<{ type: string }> | { type: string };
}

/** Every metric of a registry, in registration order. */
export async function describeRegistry(registry: Registry): Promise<Omit<MetricReference, 'group'>[]> {
  const out: Omit<MetricReference, 'group'>[] = [];
  for (const metric of registry.getMetricsAsArray() as unknown as MetricInternals[]) {
    const { type } = await metric.get();
    out.push({
      name: metric.name,
      type: type as MetricType,
      help: metric.help,
      labels: [...(metric.labelNames ?? [])],
      ...(type === 'histogram' && metric.upperBounds ? { buckets: [...metric.upperBounds] } : {}),
    });
  }
  return out;
}

/** The reference of everything the agent exposes with process metrics on, as the agent runs. */
export async function metricsReference(): Promise<MetricReference[]> {
  const agentNames = new Set((await describeRegistry(createMetrics({ version: 'doc' }).registry)).map((d) => d.name));
  const all = await describeRegistry(createMetrics({ version: 'doc', processMetrics: true }).registry);
  const refs: MetricReference[] = all.map((d) => ({ ...d, group: agentNames.has(d.name) ? 'agent' : 'runtime' }));
  for (const extra of LINUX_ONLY) {
    const found = refs.find((r) => r.name === extra.name);
    if (found) found.linuxOnly = true;
    else refs.push({ ...extra, group: 'runtime', linuxOnly: true });
  }
  const order = (r: MetricReference) => (r.group === 'agent' ? 0 : 1);
  return refs.sort((a, b) => order(a) - order(b) || (a.group === 'agent' || a.name === b.name ? 0 : a.name < b.name ? -1 : 1));
}

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');
const code = (s: string) => `\`${s}\``;

function seriesOf(r: MetricReference): string {
  if (r.type !== 'histogram') return code(r.name);
  return [`${r.name}_bucket`, `${r.name}_sum`, `${r.name}_count`].map(code).join('<br>');
}

function table(refs: MetricReference[]): string[] {
  const lines = ['| Metric | Type | Labels | Meaning |', '| --- | --- | --- | --- |'];
  for (const r of refs) {
    const labels = r.labels.length ? r.labels.map(code).join(', ') : '';
    const notes = [r.help, r.linuxOnly ? '(Linux only.)' : '', r.buckets ? `Buckets: ${r.buckets.join(', ')}.` : ''].filter(Boolean).join(' ');
    lines.push(`| ${seriesOf(r)} | ${r.type} | ${labels} | ${cell(notes)} |`);
  }
  return lines;
}

export function renderMetricsDoc(refs: MetricReference[]): string {
  const usedLabels = [...new Set(refs.flatMap((r) => r.labels))].sort();
  const agent = refs.filter((r) => r.group === 'agent');
  const runtime = refs.filter((r) => r.group === 'runtime');
  return [
    '<!-- Generated by scripts/gen/metrics-doc.ts from the metrics registry; do not edit. Run `npm run generate`. -->',
    '',
    '# Metrics reference',
    '',
    `The agent serves Prometheus metrics on \`/metrics\` (port 9721 by default). The agent's own metric names start with \`${METRIC_PREFIX}\`; the process and Node.js runtime metrics keep the standard unprefixed names (\`process_cpu_seconds_total\`, \`nodejs_heap_size_used_bytes\`, ...) so stock Node.js dashboards work; times are in seconds and sizes in bytes. Label values are bounded (IMDS paths, status codes, fixed outcome names); no metric carries a node name: the scrape adds it (see [Target labels](#target-labels)).`,
    '',
    `${agent.length} agent metrics and ${runtime.length} process and Node.js runtime metrics. The dashboard (\`charts/imds-labeler/files/dashboard-fleet.json\`) and the alerts (\`charts/imds-labeler/files/alerts.yaml\`, runbooks in [runbooks.md](runbooks.md)) use only these.`,
    '',
    '## Agent metrics',
    '',
    ...table(agent),
    '',
    '## Process and Node.js runtime metrics',
    '',
    "Registered by prom-client's default collectors under their usual names, without the agent's prefix: a stock Node.js dashboard or alert works on them, selected by the agent's `job`.",
    '',
    ...table(runtime),
    '',
    '## Labels',
    '',
    '| Label | Meaning |',
    '| --- | --- |',
    ...usedLabels.map((l) => `| ${code(l)} | ${cell(LABEL_DOCS[l] ?? '')} |`),
    '',
    '## Target labels',
    '',
    'Prometheus adds the labels of the scrape target to every series. The dashboard and the alerts expect:',
    '',
    '| Label | Where it comes from |',
    '| --- | --- |',
    '| `job` | The scrape job. The alerts select `job=~".*imds-labeler.*"` by default; the chart\'s monitors set it from the pod label `app.kubernetes.io/name` (`imds-labeler`). |',
    '| `namespace`, `pod`, `instance` | Kubernetes service discovery (added by PodMonitor and ServiceMonitor). |',
    '| `node` | The node the agent runs on, from `__meta_kubernetes_pod_node_name`. Needed for per-node panels, the `node` variable and alert text; without it those show the pod instead. |',
    '| `cluster` | Optional: one value per cluster, for a Prometheus (or Thanos, Mimir) that holds several clusters. Usually an external label; the chart\'s monitors set it from `metrics.clusterLabel`. |',
    '',
    "prometheus-operator also adds `endpoint` (the port name, `metrics`), `container` and `service`; the agent's own labels never collide with them (the IMDS endpoint label is `imds_endpoint`). The chart's PodMonitor and ServiceMonitor carry these relabelings; a monitor of your own needs the same:",
    '',
    '```yaml',
    'podMetricsEndpoints:       # endpoints: for a ServiceMonitor',
    '  - port: metrics',
    '    relabelings:',
    '      - action: replace',
    '        sourceLabels: [__meta_kubernetes_pod_node_name]',
    '        targetLabel: node',
    '      # only when a cluster name is configured (the chart: metrics.clusterLabel):',
    '      - action: replace',
    '        targetLabel: cluster',
    '        replacement: my-cluster',
    '```',
    '',
    'With a plain Prometheus `kubernetes_sd_configs` job (role `pod`), the same `relabel_configs`: `source_labels: [__meta_kubernetes_pod_node_name]`, `target_label: node`.',
    '',
  ].join('\n');
}
