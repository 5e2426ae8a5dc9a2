import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/generated.ts';
import { createMetrics, METRIC_PREFIX } from '../../src/observability/metrics.ts';
import { describeRegistry, LABEL_DOCS, LINUX_ONLY, metricsReference } from '../../scripts/observability/metricsReference.ts';

const doc = readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8');
const registry = await describeRegistry(createMetrics({ version: 'x', processMetrics: true }).registry);
const histograms = new Set(registry.filter((r) => r.type === 'histogram').map((r) => r.name));

/** Metric names in the first column of the doc's tables, histogram series folded back to their metric. */
function documentedMetrics(): Set<string> {
  const names = new Set<string>();
  for (const line of doc.split('\n')) {
    const first = /^\| (`(?:imds_labeler|process|nodejs)_[^|]+) \| (?:counter|gauge|histogram|summary) \|/.exec(line)?.[1];
    if (!first) continue;
    for (const [, name] of first.matchAll(/`([a-z0-9_]+)`/g)) {
      const base = name!.replace(/_(bucket|sum|count)$/, '');
      names.add(histograms.has(base) ? base : name!);
    }
  }
  return names;
}

describe('metrics reference (docs/metrics.md)', () => {
  const documented = documentedMetrics();

  it('documents every metric of the registry', () => {
    expect(registry.length).toBeGreaterThan(40);
    const missing = registry.map((r) => r.name).filter((n) => !documented.has(n));
    expect(missing).toEqual([]);
  });

  it('documents nothing the registry does not have', () => {
    const names = new Set(registry.map((r) => r.name));
    const linuxOnly = new Set(LINUX_ONLY.map((r) => r.name));
    const extra = [...documented].filter((n) => !names.has(n) && !(process.platform !== 'linux' && linuxOnly.has(n)));
    expect(extra).toEqual([]);
  });

  it('lists type and labels as the registry has them', async () => {
    for (const r of await metricsReference()) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${r.name}`) && l.includes(` | ${r.type} | `));
      expect(row, r.name).toBeDefined();
      for (const label of r.labels) expect(row, `${r.name} ${label}`).toContain(`\`${label}\``);
    }
  });

  it('describes every label, and only labels in use', () => {
    const used = new Set(registry.flatMap((r) => r.labels));
    expect([...used].filter((l) => !LABEL_DOCS[l])).toEqual([]);
    expect(Object.keys(LABEL_DOCS).filter((l) => !used.has(l))).toEqual([]);
  });

  it('documents the node and cluster relabelings, and needs no label drop', () => {
    expect(doc).toContain('__meta_kubernetes_pod_node_name');
    expect(doc).toContain('targetLabel: node');
    expect(doc).toContain('targetLabel: cluster');
    expect(doc).not.toContain('labeldrop');
    expect(doc).not.toContain('exported_endpoint');
  });
});

describe('metric naming', () => {
  it('prefixes the agent\'s own metrics, keeps the runtime metrics under their standard names, and ends counters in _total', async () => {
    const agentOnly = new Set((await describeRegistry(createMetrics({ version: 'x' }).registry)).map((r) => r.name));
    for (const r of registry) {
      if (agentOnly.has(r.name)) expect(r.name.startsWith(METRIC_PREFIX), r.name).toBe(true);
      else expect(r.name, r.name).toMatch(/^(process|nodejs)_/);
      if (r.type === 'counter') expect(r.name, r.name).toMatch(/_total$/);
    }
    // The names stock Node.js dashboards query.
    const names = new Set(registry.map((r) => r.name));
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds']) {
      expect(names.has(name), name).toBe(true);
    }
  });

  it('has no label that the scrape sets on targets, nor a node name', () => {
    // prometheus-operator's target labels (`endpoint` is the port name) and what relabelings add:
    // a metric label of the same name would be renamed `exported_<name>` and break the queries.
    const targetLabels = ['job', 'instance', 'namespace', 'pod', 'container', 'service', 'node', 'cluster', 'endpoint', 'hostname', 'node_name'];
    const bad = registry.flatMap((r) => r.labels.filter((l) => targetLabels.includes(l)).map((l) => `${r.name}{${l}}`));
    expect(bad).toEqual([]);
  });

  it('uses base units in names', () => {
    for (const r of registry) expect(r.name, r.name).not.toMatch(/_(milliseconds|ms|kilobytes|megabytes|minutes|percent)(_|$)/);
  });
});
