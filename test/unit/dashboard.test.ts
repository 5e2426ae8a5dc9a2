import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/generated.ts';
import { fleetDashboard, FLEET_UID } from '../../scripts/observability/dashboards/fleet.ts';
import { DEFAULT_THRESHOLDS } from '../../scripts/observability/promql.ts';
import { knownSeriesNames, prefixedNames, ranges, selectedNames, selectors } from '../prometheus/promql.ts';

interface Target {
  expr: string;
  refId: string;
  datasource?: { type?: string; uid?: string };
  legendFormat?: string;
  instant?: boolean;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  gridPos: { x: number; y: number; w: number; h: number };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: Target[];
}
interface Variable {
  name: string;
  type: string;
  query?: string;
  datasource?: { uid?: string };
  includeAll?: boolean;
  allValue?: string;
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
  annotations: { list: unknown[] };
}

const PATH = 'charts/imds-labeler/files/dashboard-fleet.json';
const text = readFileSync(join(ROOT, PATH), 'utf8');
const dash = JSON.parse(text) as Dashboard;
const panels = dash.panels.filter((p) => p.type !== 'row');
const targets = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, ...t })));
const known = await knownSeriesNames();

describe(`fleet dashboard (${PATH})`, () => {
  it('has a stable uid and title', () => {
    expect(dash.uid).toBe('imds-labeler-fleet');
    expect(FLEET_UID).toBe(dash.uid);
    expect(dash.title).toBe('imds-labeler / Fleet');
  });

  it('is deterministic and carries no volatile fields', () => {
    expect(JSON.stringify(fleetDashboard())).toBe(JSON.stringify(fleetDashboard()));
    for (const key of ['id', 'version', 'iteration', 'created', 'updated', '__inputs']) expect(dash, key).not.toHaveProperty(key);
    expect(text).not.toMatch(/20\d\d-\d\d-\d\dT/);
  });

  it('has the datasource, cluster, job and node variables, all through the datasource variable', () => {
    const vars = dash.templating.list;
    expect(vars.map((v) => v.name)).toEqual(['datasource', 'cluster', 'job', 'node']);
    expect(vars[0]).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const v of vars.slice(1)) {
      expect(v.type).toBe('query');
      expect(v.datasource?.uid).toBe('${datasource}');
      expect(v.includeAll).toBe(true);
      for (const name of selectedNames(v.query!)) expect(known.has(name), name).toBe(true);
    }
    expect(vars.find((v) => v.name === 'node')?.query).toMatch(/, node\)$/);
    // "All" must match series without the label (single cluster, no node relabeling).
    expect(vars.find((v) => v.name === 'cluster')?.allValue).toBe('.*');
    expect(vars.find((v) => v.name === 'node')?.allValue).toBe('.*');
  });

  it('keeps the built-in annotation list Grafana expects', () => {
    expect(dash.annotations.list).toHaveLength(1);
  });

  it('gives every panel a title, description, unit and the datasource variable', () => {
    expect(panels.length).toBeGreaterThan(20);
    for (const p of panels) {
      expect(p.title, `panel ${p.id}`).toBeTruthy();
      expect(p.description?.length ?? 0, `${p.title}: description`).toBeGreaterThan(20);
      expect(p.fieldConfig?.defaults?.unit, `${p.title}: unit`).toBeTruthy();
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.targets?.length ?? 0, `${p.title}: targets`).toBeGreaterThan(0);
    }
  });

  it('has unique ids, titles and non-overlapping panels on the 24-column grid', () => {
    expect(new Set(dash.panels.map((p) => p.id)).size).toBe(dash.panels.length);
    expect(new Set(panels.map((p) => p.title)).size).toBe(panels.length);
    const cells = new Set<string>();
    for (const p of dash.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
    }
  });

  it('queries only metrics the agent exposes (and up)', () => {
    for (const t of targets) {
      for (const name of [...selectedNames(t.expr), ...prefixedNames(t.expr)]) {
        expect(name === 'up' || known.has(name), `${t.panel.title}: ${name}`).toBe(true);
      }
    }
  });

  it('filters every selector by the cluster, job and node variables', () => {
    for (const t of targets) {
      const sels = selectors(t.expr);
      expect(sels.length, t.panel.title).toBeGreaterThan(0);
      for (const s of sels) expect(s.matchers, `${t.panel.title}: ${s.name}`).toContain('cluster=~"$cluster", job=~"$job", node=~"$node"');
    }
  });

  it('uses $__rate_interval in graphs and the alert window in the instant table', () => {
    for (const t of targets) {
      const expected = t.instant ? DEFAULT_THRESHOLDS.window : '$__rate_interval';
      for (const r of ranges(t.expr)) expect(r, t.panel.title).toBe(expected);
    }
  });

  it('gives every target a unique refId and the datasource variable', () => {
    for (const p of panels) {
      const ids = (p.targets ?? []).map((t) => t.refId);
      expect(new Set(ids).size, p.title).toBe(ids.length);
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe('${datasource}');
    }
  });

  it('covers fleet health: latency quantiles, errors, 429s, staleness, patches, labels, memory, CPU, problem table', () => {
    const all = targets.map((t) => t.expr).join('\n');
    for (const q of ['0.5', '0.95', '0.99']) {
      expect(all).toContain(`histogram_quantile(${q}, sum by (le, imds_endpoint) (rate(imds_labeler_imds_request_duration_seconds_bucket{`);
    }
    for (const name of [
      'imds_labeler_imds_errors_total',
      'imds_labeler_imds_throttled_total',
      'imds_labeler_imds_last_success_timestamp_seconds',
      'imds_labeler_poll_period_seconds',
      'imds_labeler_node_patches_total',
      'imds_labeler_label_changes_total',
      'imds_labeler_managed_labels',
      'process_resident_memory_bytes{',
      'process_cpu_seconds_total{',
    ]) {
      expect(all).toContain(name);
    }
    expect(all).toContain('time() - (imds_labeler_imds_last_success_timestamp_seconds{');
    const table = panels.find((p) => p.type === 'table');
    expect(table?.title).toBe('Nodes that are stale or failing');
  });

  it('charts every agent metric but the few left out on purpose', async () => {
    const { createMetrics } = await import('../../src/observability/metrics.ts');
    const { describeRegistry } = await import('../../scripts/observability/metricsReference.ts');
    const agent = (await describeRegistry(createMetrics({ version: 'x' }).registry)).map((r) => r.name);
    const used = new Set(targets.flatMap((t) => prefixedNames(t.expr).map((n) => n.replace(/_bucket$/, ''))));
    const notCharted = agent.filter((n) => !used.has(n));
    expect(notCharted).toEqual(['imds_labeler_imds_rate_limiter_tokens']);
  });
});
