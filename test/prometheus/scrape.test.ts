import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ROOT } from '../../scripts/generated.ts';
import { builtInFixture } from '../../testbed/imds-emulator/fixtures.ts';
import { startEmulator, type Emulator } from '../../testbed/imds-emulator/server.ts';
import type { FaultPlan } from '../../testbed/imds-emulator/faults.ts';
import { startSandbox, type Sandbox } from '../../testbed/kube-sandbox/server.ts';
import { ALERT_NAMES, alertRules, renderAlerts, type AlertName, type AlertOptions, type RuleFile } from '../../scripts/observability/alerts.ts';
import { DEFAULT_THRESHOLDS, problemTargets } from '../../scripts/observability/promql.ts';
import { startAgentProcess, type AgentProcess } from '../helpers/agentProcess.ts';
import { imageEnv, imageNodeOptions, workspace, type Workspace } from '../helpers/bundledAgent.ts';
import { query, startPrometheus, type RunningPrometheus, type Sample } from './tools.ts';
import { isDefined, waitFor } from '../helpers/wait.ts';

/**
 * A real Prometheus scrapes real agents (`imds-labeler agent` processes of the bundle, with the
 * image's node options, so their memory is what the chart's limit and the shipped memory threshold
 * are sized for) every second and
 * evaluates the shipped alerts, rendered with short `for:` and staleness. Each agent polls its own IMDS emulator and labels its own node in
 * one Kubernetes API sandbox:
 *
 * - node-healthy: no faults; the tag-edge-cases fixture, so some VM tags are left out of labels.
 * - node-faulty: IMDS refuses the agent's api-version (it falls back), answers one poll, then
 *   hangs for a few seconds (an outage: timeouts) and then answers 429s, 500s and 404s; every
 *   node patch gets a 500 from the API server. Short poll period and retry budget, so it goes
 *   stale within seconds. Scheduled events on, and Azure has a Reboot pending for its VM.
 * - node-down: a healthy agent that is stopped once Prometheus has scraped it: `up == 0`.
 *
 * The metrics must show the faults; every dashboard query and every alert expression must parse
 * and return series; the alerts must fire for the faulty and the stopped agent, not the healthy one.
 */

const JOB = 'imds-labeler';
const NODES = ['node-healthy', 'node-faulty', 'node-down'] as const;
type NodeName = (typeof NODES)[number];

/** Short `for:` and staleness so alerts fire within seconds; a 1-byte memory threshold so the memory alert has series. */
const FAST: AlertOptions = {
  for: Object.fromEntries(ALERT_NAMES.map((n) => [n, '2s'])) as Record<AlertName, string>,
  thresholds: { stalePeriods: 3, memoryBytes: 1 },
};

/** IMDS for node-faulty: the first poll (version refused, then the fallback) answers, then an outage, then errors. */
const FAULTY_IMDS: FaultPlan = {
  supportedVersions: ['2021-02-01', '2021-01-01', '2020-12-01'],
  faults: [
    { path: '/metadata/instance', statuses: [200, 200] },
    { path: '/metadata/instance', hang: true, forSeconds: 6 },
    { path: '/metadata/instance', statuses: Array.from({ length: 60 }, () => [429, 500, 404, 429, 500, 500]).flat() },
  ],
};

/** What the chart ships: the dashboard and the alerts, as files. */
const CHART_FILES = join(ROOT, 'charts/imds-labeler/files');
const dashboard = JSON.parse(readFileSync(join(CHART_FILES, 'dashboard-fleet.json'), 'utf8')) as {
  templating: { list: { name: string; type: string; query?: unknown }[] };
  panels: { title?: string; targets?: { expr?: string }[] }[];
};
const shippedRules = (parse(readFileSync(join(CHART_FILES, 'alerts.yaml'), 'utf8')) as RuleFile).groups.flatMap((g) => g.rules);

/** Grafana's template variables, as a dashboard with every variable on "All" expands them. */
const substitute = (expr: string) =>
  expr.replaceAll('$__rate_interval', '5s').replaceAll('$cluster', '.*').replaceAll('$job', '.*').replaceAll('$node', '.*');

const dir = mkdtempSync(join(tmpdir(), 'imds-labeler-scrape-'));
let prom: RunningPrometheus | undefined;
let sandbox: Sandbox | undefined;
const emulators: Emulator[] = [];
const agents = new Map<NodeName, AgentProcess>();

function configFile(name: string, config: object): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(config));
  return file;
}

/** The bundle as the image ships it (its compile cache too), built in beforeAll. */
let ws: Workspace | undefined;

async function startAgent(node: NodeName, imds: Emulator, pollPeriod: string, config: string): Promise<AgentProcess> {
  const agent = await startAgentProcess([
    '--config', config,
    '--node-name', node,
    '--kubeconfig', join(dir, 'kubeconfig'),
    '--imds-endpoint', imds.url,
    '--poll-period', pollPeriod,
    '--poll-jitter', '0',
  ], imageEnv(ws!.distDir), { entry: ws!.entry, nodeOptions: imageNodeOptions(ws!.distDir) });
  agents.set(node, agent);
  return agent;
}

const value = (samples: Sample[]) => (samples.length ? Number(samples[0]!.value[1]) : undefined);
const scalar = async (expr: string) => value(await query(prom!.url, expr));

beforeAll(async () => {
  ws = await workspace();
  sandbox = await startSandbox({ port: 0, nodes: [...NODES] });
  sandbox.writeKubeconfig(join(dir, 'kubeconfig'));
  sandbox.setFaults({ faults: [{ verb: 'patch', resource: 'nodes', name: 'node-faulty', status: 500 }] });
  const healthyImds = await startEmulator({ port: 0, fixture: 'tag-edge-cases' });
  // The faulty VM's zone is not a valid label value ("1 "): the mapping reports it (mapping_problems).
  const faultyDocument = structuredClone(builtInFixture('default')) as { compute: Record<string, unknown> };
  faultyDocument.compute.zone = '1 ';
  (faultyDocument as Record<string, unknown>).scheduledEvents = {
    DocumentIncarnation: 2,
    Events: [{ EventId: 'reboot-1', EventType: 'Reboot', ResourceType: 'VirtualMachine', Resources: [String(faultyDocument.compute.name)], EventStatus: 'Scheduled', NotBefore: new Date(Date.now() + 3_600_000).toUTCString(), Description: '', EventSource: 'Platform', DurationInSeconds: 15 }],
  };
  const faultyImds = await startEmulator({ port: 0, fixture: faultyDocument, faults: FAULTY_IMDS });
  const downImds = await startEmulator({ port: 0, fixture: 'default' });
  emulators.push(healthyImds, faultyImds, downImds);

  // Watches time out every 1-2 s, so watch restarts show; the faulty agent retries each poll for 1 s only.
  const steady = configFile('steady', { kube: { watchTimeout: '1s' } });
  const faulty = configFile('faulty', {
    imds: { retryBudget: '1s', requestTimeout: '500ms', connectTimeout: '500ms' },
    kube: { watchTimeout: '1s', resyncPeriod: '1s' },
    scheduledEvents: { enabled: true },
  });
  // allSettled: an agent that started is registered (and stopped in afterAll) even if another failed.
  const started = await Promise.allSettled([
    startAgent('node-healthy', healthyImds, '2s', steady),
    startAgent('node-faulty', faultyImds, '1s', faulty),
    startAgent('node-down', downImds, '2s', steady),
  ]);
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  const [healthy, failing, down] = started.map((r) => (r as PromiseFulfilledResult<AgentProcess>).value) as [AgentProcess, AgentProcess, AgentProcess];

  // What the chart's PodMonitor produces: prometheus-operator's target labels (endpoint is the
  // port name), `node` from __meta_kubernetes_pod_node_name, `cluster` from metrics.clusterLabel.
  const target = (agent: AgentProcess, node: NodeName) => ({
    targets: [`127.0.0.1:${agent.port}`],
    labels: { node, pod: `imds-labeler-${node.slice(5)}`, namespace: 'kube-system', container: 'imds-labeler', endpoint: 'metrics', cluster: 'test' },
  });
  prom = await startPrometheus(
    {
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: ['alerts.yaml'],
      scrape_configs: [
        { job_name: JOB, static_configs: [target(healthy, 'node-healthy'), target(failing, 'node-faulty'), target(down, 'node-down')] },
      ],
    },
    { 'alerts.yaml': renderAlerts(FAST) },
  );

  // node-down: scraped while it runs, then stopped.
  await waitFor('node-down scraped twice', async () => ((await scalar(`sum_over_time(up{job="${JOB}", node="node-down"}[30s])`)) ?? 0) >= 2 || undefined, { accept: isDefined, timeoutMs: 30_000, everyMs: 500, retryErrors: true });
  expect(await down.stop('SIGTERM')).toBe(0);
  // Enough scrapes for 5s rates.
  await waitFor('three targets scraped for 6s', async () => ((await scalar(`count(count_over_time(up{job="${JOB}"}[10s]) >= 6)`)) === 3 ? true : undefined), { accept: isDefined, timeoutMs: 30_000, everyMs: 500, retryErrors: true });
}, 60_000);

afterAll(async () => {
  await prom?.stop();
  for (const agent of agents.values()) await agent.stop();
  for (const e of emulators) await e.close();
  await sandbox?.close();
  ws?.close();
  rmSync(dir, { recursive: true, force: true });
});

const nodes = (samples: Sample[]) => [...new Set(samples.map((s) => s.metric.node))].sort();
const byLabel = (samples: Sample[], label: string) => Object.fromEntries(samples.map((s) => [s.metric[label], Number(s.value[1])]));

describe('a real Prometheus scraping real agents', () => {
  it('keeps the agent labels next to the target labels: imds_endpoint beside the operator endpoint, node and cluster', async () => {
    const r = await query(prom!.url, `imds_labeler_imds_requests_total{node="node-healthy", code="200"}`);
    expect(r.length).toBeGreaterThan(0);
    for (const s of r) {
      expect(s.metric).toMatchObject({ imds_endpoint: 'instance', endpoint: 'metrics', cluster: 'test', job: JOB, namespace: 'kube-system', pod: 'imds-labeler-healthy' });
      expect(Object.keys(s.metric).filter((k) => k.startsWith('exported_'))).toEqual([]);
    }
  });

  it('shows the IMDS and API server faults of the faulty agent, and none for the healthy one', async () => {
    const f = 'node="node-faulty"';
    const faults = await waitFor('faults counted', async () => {
        const seen = {
          throttled: (await scalar(`sum(imds_labeler_imds_throttled_total{${f}})`)) ?? 0,
          requests: byLabel(await query(prom!.url, `sum by (code) (imds_labeler_imds_requests_total{${f}, imds_endpoint="instance"})`), 'code'),
          errorsByClass: byLabel(await query(prom!.url, `sum by (class) (imds_labeler_imds_errors_total{${f}})`), 'class'),
          errorsByCode: byLabel(await query(prom!.url, `sum by (code) (imds_labeler_imds_errors_total{${f}})`), 'code'),
          timeouts: (await scalar(`sum(imds_labeler_imds_timeouts_total{${f}})`)) ?? 0,
          retries: (await scalar(`sum(imds_labeler_imds_retries_total{${f}})`)) ?? 0,
          fallbacks: byLabel(await query(prom!.url, `imds_labeler_imds_api_version_fallbacks_total{${f}}`), 'to_version'),
          patches: byLabel(await query(prom!.url, `imds_labeler_node_patches_total{${f}}`), 'result'),
          patchRequests500: (await scalar(`sum(imds_labeler_kube_requests_total{${f}, verb="patch", code="500"})`)) ?? 0,
        };
        const all = seen.throttled > 0 && (seen.requests['500'] ?? 0) > 0 && (seen.requests.timeout ?? 0) > 0 && (seen.errorsByCode['404'] ?? 0) > 0;
        return all ? seen : undefined;
      }, { accept: isDefined, timeoutMs: 45_000, everyMs: 500, retryErrors: true });
    // The first poll: the configured api-version refused with a 400, the fallback answered.
    expect(faults.requests['400']).toBe(1);
    expect(faults.requests['200']).toBe(1);
    expect(faults.fallbacks).toEqual({ '2021-02-01': 1 });
    // 429s and 500s are retried; 404 is not; the outage is timeouts.
    expect(faults.errorsByClass.retryable).toBeGreaterThan(0);
    expect(faults.errorsByClass.fatal).toBeGreaterThan(0);
    expect(Object.keys(faults.errorsByCode).sort()).toEqual(['404', '429', '500', 'timeout']);
    expect(faults.errorsByCode.timeout).toBe(faults.timeouts);
    expect(faults.retries).toBeGreaterThan(0);
    // Every node patch failed, so the node has no label of ours.
    expect(faults.patches.error).toBeGreaterThan(0);
    expect(faults.patches.success ?? 0).toBe(0);
    expect(faults.patchRequests500).toBeGreaterThan(0);
    expect(await scalar(`imds_labeler_managed_labels{${f}}`)).toBe(0);
    // Only the first poll succeeded.
    expect(await scalar(`time() - imds_labeler_imds_last_success_timestamp_seconds{${f}}`)).toBeGreaterThan(3);

    const h = 'node="node-healthy"';
    expect((await scalar(`sum(imds_labeler_imds_errors_total{${h}})`)) ?? 0).toBe(0);
    expect(Object.keys(byLabel(await query(prom!.url, `sum by (code) (imds_labeler_imds_requests_total{${h}})`), 'code'))).toEqual(['200']);
    expect(await scalar(`imds_labeler_node_patches_total{${h}, result="success"}`)).toBeGreaterThanOrEqual(1);
    expect(await scalar(`imds_labeler_managed_labels{${h}}`)).toBeGreaterThan(0);
    expect(await scalar(`sum(imds_labeler_tags_skipped{${h}})`)).toBeGreaterThan(0);
    expect(await scalar(`sum(imds_labeler_watch_restarts_total{${h}, reason="timeout"})`)).toBeGreaterThan(0);
  }, 60_000);

  it('fires the stale, error, throttling, patch, unlabelled-node and maintenance alerts for the faulty agent, Down for the stopped one, nothing for the healthy one', async () => {
    interface ApiAlert {
      labels: Record<string, string>;
      state: string;
      annotations: Record<string, string>;
    }
    const want: [AlertName, NodeName][] = [
      ['ImdsLabelerDown', 'node-down'],
      ['ImdsLabelerImdsStale', 'node-faulty'],
      ['ImdsLabelerImdsErrors', 'node-faulty'],
      ['ImdsLabelerImdsThrottled', 'node-faulty'],
      ['ImdsLabelerNodePatchesFailing', 'node-faulty'],
      ['ImdsLabelerNodeUnlabelled', 'node-faulty'],
      ['ImdsLabelerHighMemory', 'node-faulty'],
      ['ImdsLabelerMaintenancePending', 'node-faulty'],
    ];
    const alerts = await waitFor('alerts firing', async () => {
        const body = (await (await fetch(`${prom!.url}/api/v1/alerts`)).json()) as { data: { alerts: ApiAlert[] } };
        const firing = body.data.alerts.filter((a) => a.state === 'firing');
        const all = want.every(([name, node]) => firing.some((a) => a.labels.alertname === name && a.labels.node === node));
        return all ? body.data.alerts : undefined;
      }, { accept: isDefined, timeoutMs: 45_000, everyMs: 500, retryErrors: true });
    const onHealthy = alerts.filter((a) => a.labels.node === 'node-healthy' && a.labels.alertname !== 'ImdsLabelerHighMemory');
    expect(onHealthy.map((a) => `${a.labels.alertname} (${a.state})`)).toEqual([]);
    const stale = alerts.find((a) => a.labels.alertname === 'ImdsLabelerImdsStale')!;
    expect(stale.annotations.description).toMatch(
      /^The agent on node node-faulty \(pod kube-system\/imds-labeler-faulty\) has not fetched instance metadata from IMDS for [0-9hms. ]+, more than 3 poll periods\./,
    );
    expect(stale.annotations.runbook_url).toMatch(/#imdslabelerimdsstale$/);
    expect(alerts.find((a) => a.labels.alertname === 'ImdsLabelerDown')!.annotations.description).toContain('node node-down (pod kube-system/imds-labeler-down)');
    expect(alerts.some((a) => a.labels.alertname === 'ImdsLabelerAbsent')).toBe(false);
  }, 60_000);

  it("stays under the chart monitors' sample limit, with room to spare", async () => {
    const values = parse(readFileSync(join(ROOT, 'charts/imds-labeler/values.yaml'), 'utf8')) as { metrics?: { podMonitor?: { sampleLimit?: number } } };
    const limit = values.metrics?.podMonitor?.sampleLimit;
    expect(typeof limit, 'metrics.podMonitor.sampleLimit in the chart values').toBe('number');
    // The faulty agent has the most series: every status code and error class.
    const scraped = await scalar(`scrape_samples_scraped{job="${JOB}", node="node-faulty"}`);
    expect(scraped).toBeDefined();
    expect(scraped!).toBeLessThan(limit! / 2);
  });

  it('answers every variable query of the dashboard', async () => {
    const vars = dashboard.templating.list.filter((v) => v.type === 'query');
    const values: Record<string, string[]> = {};
    for (const v of vars) {
      const m = /^label_values\((.+), (\w+)\)$/.exec(String(v.query));
      expect(m, v.name).not.toBeNull();
      const url = `${prom!.url}/api/v1/label/${m![2]}/values?${new URLSearchParams({ 'match[]': substitute(m![1]!) })}`;
      const body = (await (await fetch(url)).json()) as { status: string; data: string[] };
      expect(body.status, v.name).toBe('success');
      values[v.name] = body.data;
    }
    expect(values).toEqual({ cluster: ['test'], job: [JOB], node: ['node-down', 'node-faulty', 'node-healthy'] });
  });

  it('returns series for every query of every dashboard panel', async () => {
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr! })));
    expect(exprs.length).toBeGreaterThan(30);
    const empty: string[] = [];
    for (const { title, expr } of exprs) {
      if ((await query(prom!.url, substitute(expr))).length === 0) empty.push(`${title}: ${expr}`);
    }
    expect(empty).toEqual([]);
  });

  it('lists exactly the faulty and the stopped agent in the problem table', async () => {
    const r = await query(prom!.url, substitute(problemTargets('cluster=~"$cluster", job=~"$job", node=~"$node"', DEFAULT_THRESHOLDS)));
    expect(nodes(r)).toEqual(['node-down', 'node-faulty']);
  });

  it('returns series for every alert expression of alerts.yaml as shipped', async () => {
    expect(shippedRules.map((r) => r.alert)).toEqual([...ALERT_NAMES]);
    for (const rule of shippedRules) {
      const r = await query(prom!.url, rule.expr);
      if (rule.alert === 'ImdsLabelerAbsent') {
        expect(r, rule.alert).toEqual([]);
      } else if (rule.alert === 'ImdsLabelerHighMemory') {
        // No agent is near the shipped threshold (80% of the 128Mi limit); the measurement itself has series.
        expect(r, rule.alert).toEqual([]);
        expect((await query(prom!.url, rule.expr.replace(/ > \d+$/, ''))).length, rule.expr).toBe(2);
      } else {
        // ImdsLabelerNodeUnlabelled among them: every patch of node-faulty fails, so it owns no label
        // (managed_labels 0); node-healthy owns its labels, node-down is no longer scraped.
        expect(nodes(r), `${rule.alert}: ${rule.expr}`).toEqual([rule.alert === 'ImdsLabelerDown' ? 'node-down' : 'node-faulty']);
      }
    }
  });

  it('returns series for every alert expression as Prometheus evaluates it here (short for:, staleness and memory threshold)', async () => {
    for (const rule of alertRules(FAST).groups.flatMap((g) => g.rules)) {
      const r = await query(prom!.url, rule.expr);
      if (rule.alert === 'ImdsLabelerAbsent') {
        // Targets exist, so nothing is absent; with a job nobody has, it fires.
        expect(r, rule.alert).toEqual([]);
        const absent = await query(prom!.url, rule.expr.replace('job=~".*imds-labeler.*"', 'job="no-such-job"'));
        expect(absent, rule.alert).toHaveLength(1);
      } else {
        expect(r.length, `${rule.alert}: ${rule.expr}`).toBeGreaterThan(0);
      }
    }
  });
});
