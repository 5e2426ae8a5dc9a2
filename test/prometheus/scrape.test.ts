import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from '../../scripts/generated.ts';
import { ALERT_NAMES, alertRules, renderAlerts, type AlertName, type AlertOptions } from '../../src/observability/alerts.ts';
import { fleetDashboard } from '../../src/observability/dashboards/fleet.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { DEFAULT_THRESHOLDS, problemTargets } from '../../src/observability/promql.ts';
import { startObservabilityServer } from '../../src/observability/server.ts';
import { eventually, freePort, query, startPrometheus, type RunningPrometheus } from './tools.ts';

/**
 * A real Prometheus scrapes agents every second and evaluates the shipped alerts; every dashboard
 * query and every alert expression must parse and return series, and the alerts must fire for the
 * faulty agent only.
 *
 * The scrape targets come from startTarget(): today an in-process registry driven through faults;
 * the same scenarios can be produced by the real agent against the IMDS emulator and the API
 * sandbox, by replacing that one function.
 */

type Scenario = 'faulty' | 'healthy';

interface ScrapeTarget {
  /** host:port Prometheus scrapes (path /metrics). */
  address: string;
  stop(): Promise<void>;
}

/**
 * faulty: IMDS answers half the requests with 5xx or timeouts and a quarter with 429, the last
 * success was an hour ago (poll period 10s), node patches mostly fail, no label is managed.
 * healthy: every request succeeds, metadata is fresh, patches succeed.
 */
async function startTarget(scenario: Scenario): Promise<ScrapeTarget> {
  const m = createMetrics({ version: `test-${scenario}`, processMetrics: true });
  const server = await startObservabilityServer({
    port: 0,
    address: '127.0.0.1',
    registry: m.registry,
    health: () => ({ ok: true }),
    ready: () => true,
  });
  const instance = { endpoint: 'instance' };
  m.pollPeriod.set(10);
  const tick = () => {
    const now = Date.now() / 1000;
    m.imdsRequests.inc({ ...instance, code: '200' });
    m.imdsRequestDuration.observe({ ...instance, code: '200' }, 0.004);
    m.imdsRequests.inc({ endpoint: 'versions', code: '200' });
    m.imdsRequestDuration.observe({ endpoint: 'versions', code: '200' }, 0.002);
    m.schedulerTokens.set(4);
    m.kubeRequests.inc({ verb: 'get', code: '200' });
    m.watchRestarts.inc({ reason: 'timeout' });
    if (scenario === 'healthy') {
      m.imdsLastSuccess.set(now);
      m.lastReconcile.set(now);
      m.reconciles.inc({ result: 'unchanged' });
      m.nodePatches.inc({ result: 'success' });
      m.labelChanges.inc({ operation: 'changed' });
      m.managedLabels.set(12);
      m.managedAnnotations.set(2);
      return;
    }
    m.imdsLastSuccess.set(now - 3600);
    m.imdsRequests.inc({ ...instance, code: '500' });
    m.imdsErrors.inc({ ...instance, class: 'retryable', code: '500' });
    m.imdsRequestDuration.observe({ ...instance, code: '500' }, 0.05);
    m.imdsRequests.inc({ ...instance, code: 'timeout' });
    m.imdsErrors.inc({ ...instance, class: 'retryable', code: 'timeout' });
    m.imdsTimeouts.inc(instance);
    m.imdsRequestDuration.observe({ ...instance, code: 'timeout' }, 2);
    m.imdsRequests.inc({ ...instance, code: '429' });
    m.imdsErrors.inc({ ...instance, class: 'retryable', code: '429' });
    m.imdsThrottled.inc(instance);
    m.imdsRetries.inc(instance, 3);
    m.imdsApiVersionFallbacks.inc({ to_version: '2021-02-01' });
    m.schedulerWaits.inc();
    m.schedulerWaitSeconds.inc(0.2);
    m.reconciles.inc({ result: 'failed' });
    m.nodePatches.inc({ result: 'error' }, 2);
    m.nodePatches.inc({ result: 'success' });
    m.labelChanges.inc({ operation: 'added' });
    m.kubeRequests.inc({ verb: 'patch', code: '403' });
    m.watchRestarts.inc({ reason: 'error' });
    m.managedLabels.set(0);
    m.managedAnnotations.set(0);
    m.tagsSkipped.set({ reason: 'invalid_value' }, 2);
  };
  tick();
  const timer = setInterval(tick, 200);
  return {
    address: new URL(server.url).host,
    stop: async () => {
      clearInterval(timer);
      await server.close();
    },
  };
}

const JOB = 'kube-system/imds-labeler';
/** Short `for:` so alerts fire within seconds; a 1-byte memory threshold so the memory alert has series. */
const FAST: AlertOptions = {
  for: Object.fromEntries(ALERT_NAMES.map((n) => [n, '2s'])) as Record<AlertName, string>,
  thresholds: { memoryBytes: 1 },
};

/** Grafana's template variables, as a dashboard with every variable on "All" expands them. */
const substitute = (expr: string) =>
  expr.replaceAll('$__rate_interval', '5s').replaceAll('$cluster', '.*').replaceAll('$job', '.*').replaceAll('$node', '.*');

let prom: RunningPrometheus;
const targets: ScrapeTarget[] = [];

beforeAll(async () => {
  targets.push(await startTarget('faulty'), await startTarget('healthy'));
  const closedPort = await freePort();
  const target = (address: string, name: string) => ({
    targets: [address],
    // What the chart's PodMonitor produces: prometheus-operator's labels, `node` from relabeling.
    labels: { node: `node-${name}`, pod: `imds-labeler-${name}`, namespace: 'kube-system', cluster: 'test', endpoint: 'metrics' },
  });
  prom = await startPrometheus(
    {
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: ['alerts.yaml'],
      scrape_configs: [
        {
          job_name: JOB,
          static_configs: [target(targets[0]!.address, 'faulty'), target(targets[1]!.address, 'healthy'), target(`127.0.0.1:${closedPort}`, 'down')],
          // The relabeling the chart's monitor must carry: drop the operator's `endpoint` target label.
          relabel_configs: [{ action: 'labeldrop', regex: 'endpoint' }],
        },
      ],
    },
    { 'alerts.yaml': renderAlerts(FAST) },
  );
  // Enough scrapes for 5s rates.
  await eventually('three targets scraped for 6s', async () => {
    const r = await query(prom.url, `count(count_over_time(up{job="${JOB}"}[10s]) >= 6)`);
    return r[0]?.value[1] === '3' ? true : undefined;
  });
}, 60_000);

afterAll(async () => {
  await prom?.stop();
  for (const t of targets) await t.stop();
});

const nodes = (samples: { metric: Record<string, string> }[]) => [...new Set(samples.map((s) => s.metric.node))].sort();

describe('metrics scraped by a real Prometheus', () => {
  it('keeps the agent endpoint label (the monitor drops the operator one) and adds node and cluster', async () => {
    const r = await query(prom.url, `imds_labeler_imds_requests_total{node="node-faulty", code="200"}`);
    expect(r.map((s) => s.metric.endpoint).sort()).toEqual(['instance', 'versions']);
    for (const s of r) {
      expect(s.metric).not.toHaveProperty('exported_endpoint');
      expect(s.metric).toMatchObject({ cluster: 'test', job: JOB, namespace: 'kube-system', pod: 'imds-labeler-faulty' });
    }
  });

  it("stays under the chart monitors' sample limit, with room to spare", async () => {
    const values = parse(readFileSync(join(ROOT, 'charts/imds-labeler/values.yaml'), 'utf8')) as { metrics?: { podMonitor?: { sampleLimit?: number } } };
    const limit = values.metrics?.podMonitor?.sampleLimit;
    expect(typeof limit, 'metrics.podMonitor.sampleLimit in the chart values').toBe('number');
    const r = await query(prom.url, `scrape_samples_scraped{job="${JOB}", node="node-faulty"}`);
    expect(r).toHaveLength(1);
    expect(Number(r[0]!.value[1])).toBeLessThan(limit! / 2);
  });

  it('answers every variable query of the dashboard', async () => {
    const dash = fleetDashboard();
    const vars = (dash.templating?.list ?? []).filter((v) => v.type === 'query');
    const values: Record<string, string[]> = {};
    for (const v of vars) {
      const m = /^label_values\((.+), (\w+)\)$/.exec(String(v.query));
      expect(m, v.name).not.toBeNull();
      const url = `${prom.url}/api/v1/label/${m![2]}/values?${new URLSearchParams({ 'match[]': substitute(m![1]!) })}`;
      const body = (await (await fetch(url)).json()) as { status: string; data: string[] };
      expect(body.status, v.name).toBe('success');
      values[v.name] = body.data;
    }
    expect(values).toEqual({ cluster: ['test'], job: [JOB], node: ['node-faulty', 'node-healthy'] });
  });

  it('returns series for every query of every dashboard panel', async () => {
    const dash = fleetDashboard();
    const panels = (dash.panels ?? []) as { title?: string; targets?: { expr?: string }[] }[];
    const empty: string[] = [];
    let count = 0;
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        count++;
        const result = await query(prom.url, substitute(t.expr!));
        if (result.length === 0) empty.push(`${p.title}: ${t.expr}`);
      }
    }
    expect(count).toBeGreaterThan(30);
    expect(empty).toEqual([]);
  });

  it('lists exactly the faulty and the down agent in the problem table', async () => {
    const r = await query(prom.url, substitute(problemTargets('cluster=~"$cluster", job=~"$job", node=~"$node"', DEFAULT_THRESHOLDS)));
    expect(nodes(r)).toEqual(['node-down', 'node-faulty']);
  });

  it('returns series for every alert expression', async () => {
    for (const rule of alertRules(FAST).groups.flatMap((g) => g.rules)) {
      const r = await query(prom.url, rule.expr);
      if (rule.alert === 'ImdsLabelerAbsent') {
        // Targets exist, so nothing is absent; with a job nobody has, it fires.
        expect(r, rule.alert).toEqual([]);
        const absent = await query(prom.url, rule.expr.replace('job=~".*imds-labeler.*"', 'job="no-such-job"'));
        expect(absent, rule.alert).toHaveLength(1);
      } else {
        expect(r.length, `${rule.alert}: ${rule.expr}`).toBeGreaterThan(0);
      }
    }
  });

  it('fires the alerts for the faulty and down agents, not for the healthy one', async () => {
    interface ApiAlert {
      labels: Record<string, string>;
      state: string;
      annotations: Record<string, string>;
    }
    const want: [AlertName, string][] = [
      ['ImdsLabelerDown', 'node-down'],
      ['ImdsLabelerImdsStale', 'node-faulty'],
      ['ImdsLabelerImdsErrors', 'node-faulty'],
      ['ImdsLabelerImdsThrottled', 'node-faulty'],
      ['ImdsLabelerNodePatchesFailing', 'node-faulty'],
      ['ImdsLabelerHighMemory', 'node-faulty'],
    ];
    const alerts = await eventually(
      'alerts firing',
      async () => {
        const body = (await (await fetch(`${prom.url}/api/v1/alerts`)).json()) as { data: { alerts: ApiAlert[] } };
        const firing = body.data.alerts.filter((a) => a.state === 'firing');
        const all = want.every(([name, node]) => firing.some((a) => a.labels.alertname === name && a.labels.node === node));
        return all ? body.data.alerts : undefined;
      },
      45_000,
    );
    const onHealthy = alerts.filter((a) => a.labels.node === 'node-healthy' && a.labels.alertname !== 'ImdsLabelerHighMemory');
    expect(onHealthy.map((a) => a.labels.alertname)).toEqual([]);
    const stale = alerts.find((a) => a.labels.alertname === 'ImdsLabelerImdsStale')!;
    expect(stale.annotations.description).toMatch(/^The agent on node node-faulty \(pod kube-system\/imds-labeler-faulty\) has not fetched instance metadata from IMDS for 1h 0m \d+s/);
    expect(stale.annotations.runbook_url).toMatch(/#imdslabelerimdsstale$/);
    expect(alerts.some((a) => a.labels.alertname === 'ImdsLabelerAbsent')).toBe(false);
  }, 60_000);
});
