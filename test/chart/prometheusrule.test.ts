import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { CHART_DIR, HELM, requireTool } from '../../scripts/helm.ts';
import { ALERT_NAMES, DEFAULT_FOR, DEFAULT_SEVERITY, alertRules, type AlertOptions, type AlertRule, type RuleFile } from '../../scripts/observability/alerts.ts';
import { quantityBytes } from '../../scripts/observability/chartDefaults.ts';
import { DEFAULT_THRESHOLDS } from '../../scripts/observability/promql.ts';
import { run, tool } from '../prometheus/tools.ts';
import { at, find, render, type K8sObject } from './chart.ts';

requireTool(HELM);
const promtool = tool('promtool');
const scratch = mkdtempSync(join(tmpdir(), 'imds-labeler-chart-rules-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const NS = 'monitoring-test';
const withRule = (values: Record<string, unknown> = {}) => {
  const metrics = (values.metrics ?? {}) as Record<string, unknown>;
  const prometheusRule = { enabled: true, ...((metrics.prometheusRule ?? {}) as object) };
  return render({ ...values, metrics: { podMonitor: { enabled: true }, ...metrics, prometheusRule } }, { namespace: NS });
};
const ruleFile = (objects: K8sObject[]): RuleFile => ({ groups: at(find(objects, 'PrometheusRule'), 'spec', 'groups') as RuleFile['groups'] });
const rulesOf = (objects: K8sObject[]) => ruleFile(objects).groups.flatMap((g) => g.rules);
const byName = (rules: AlertRule[]) => Object.fromEntries(rules.map((r) => [r.alert, r]));

/** The job and namespace Prometheus gives the agent's series, read from what the chart renders. */
function scrapedAs(objects: K8sObject[]): { job: string; namespace: string } {
  const monitor = find(objects, 'PodMonitor');
  const ds = find(objects, 'DaemonSet');
  const jobLabel = at(monitor, 'spec', 'jobLabel') as string;
  const job = at(ds, 'spec', 'template', 'metadata', 'labels', jobLabel) as string;
  expect(job, `pod label ${jobLabel}`).toBeTruthy();
  return { job, namespace: ds.metadata.namespace! };
}

const values = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as {
  resources: { limits: { memory: string } };
  metrics: { prometheusRule: { thresholds: Record<string, unknown>; alerts: Record<string, { enabled: boolean; for: string }> } };
};

describe('PrometheusRule defaults', () => {
  it('has the thresholds and durations of the generator in values.yaml', () => {
    const { memoryLimitRatio, memoryBytes, ...ratios } = values.metrics.prometheusRule.thresholds;
    const { memoryBytes: defaultMemory, ...defaultRatios } = DEFAULT_THRESHOLDS;
    expect(ratios).toEqual(defaultRatios);
    expect(memoryBytes).toBe(0);
    expect(defaultMemory).toBe(Math.floor((memoryLimitRatio as number) * quantityBytes(values.resources.limits.memory)));
    expect(Object.keys(values.metrics.prometheusRule.alerts)).toEqual([...ALERT_NAMES]);
    for (const name of ALERT_NAMES) expect(values.metrics.prometheusRule.alerts[name], name).toEqual({ enabled: true, for: DEFAULT_FOR[name] });
  });

  it('keeps the memory threshold under the container limit', () => {
    expect(DEFAULT_THRESHOLDS.memoryBytes).toBeLessThan(quantityBytes(values.resources.limits.memory));
  });

  it('gives one alert, and only one, the critical severity', () => {
    expect(Object.entries(DEFAULT_SEVERITY).filter(([, s]) => s === 'critical').map(([n]) => n)).toEqual(['ImdsLabelerNodeUnlabelled']);
  });
});

/** Chart values and the generator options that must give the same rules. */
const EQUIVALENT: { name: string; values: Record<string, unknown>; options: (sel: string) => AlertOptions }[] = [
  { name: 'defaults', values: {}, options: (selector) => ({ selector }) },
  {
    name: 'thresholds, durations and runbook base',
    values: {
      metrics: {
        prometheusRule: {
          runbookBaseUrl: 'https://wiki.example.com/imds.md',
          thresholds: { stalePeriods: 3, imdsErrorRatio: 0.4, throttledRatio: 0.05, patchErrorRatio: 0.75, window: '30m' },
          alerts: { ImdsLabelerImdsStale: { for: '20m' }, ImdsLabelerDown: { for: '3m' } },
        },
      },
    },
    options: (selector) => ({
      selector,
      runbookBase: 'https://wiki.example.com/imds.md',
      thresholds: { stalePeriods: 3, imdsErrorRatio: 0.4, throttledRatio: 0.05, patchErrorRatio: 0.75, window: '30m' },
      for: { ImdsLabelerImdsStale: '20m', ImdsLabelerDown: '3m' },
    }),
  },
  {
    name: 'memory from a larger limit',
    values: { resources: { requests: { memory: '96Mi' }, limits: { memory: '256Mi' } }, metrics: { prometheusRule: { thresholds: { memoryLimitRatio: 0.9 } } } },
    options: (selector) => ({ selector, thresholds: { memoryBytes: Math.floor(0.9 * 256 * 2 ** 20) } }),
  },
  {
    name: 'memory limit in gigabytes',
    values: { resources: { limits: { memory: '1G' } } },
    options: (selector) => ({ selector, thresholds: { memoryBytes: 0.8 * 1e9 } }),
  },
  {
    name: 'fixed memory threshold',
    values: { metrics: { prometheusRule: { thresholds: { memoryBytes: 99_000_000 } } } },
    options: (selector) => ({ selector, thresholds: { memoryBytes: 99_000_000 } }),
  },
  {
    name: 'explicit selector',
    values: { metrics: { prometheusRule: { selector: 'job="imds", cluster="prod"' } } },
    options: () => ({ selector: 'job="imds", cluster="prod"' }),
  },
];

describe('PrometheusRule rendered by the chart equals the generator', () => {
  it.each(EQUIVALENT.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const objects = withRule(c.values);
    const { job, namespace } = scrapedAs(objects);
    expect(ruleFile(objects)).toEqual(alertRules(c.options(`job="${job}", namespace="${namespace}"`)));
  });
});

describe('PrometheusRule values', () => {
  it('leaves out disabled alerts', () => {
    const names = rulesOf(withRule({ metrics: { prometheusRule: { alerts: { ImdsLabelerHighMemory: { enabled: false }, ImdsLabelerAbsent: { enabled: false } } } } })).map((r) => r.alert);
    expect(names).toEqual(ALERT_NAMES.filter((n) => n !== 'ImdsLabelerHighMemory' && n !== 'ImdsLabelerAbsent'));
  });

  it('leaves out the memory alert when neither a limit nor a threshold is known', () => {
    const names = rulesOf(withRule({ resources: { limits: { memory: null } } })).map((r) => r.alert);
    expect(names).toEqual(ALERT_NAMES.filter((n) => n !== 'ImdsLabelerHighMemory'));
  });

  it('adds labels to every alert, per-alert labels and severities on top', () => {
    const rules = byName(
      rulesOf(
        withRule({
          metrics: {
            prometheusRule: {
              additionalRuleLabels: { team: 'platform', tier: 'infra' },
              alerts: { ImdsLabelerDown: { severity: 'info', labels: { tier: 'nodes' } } },
            },
          },
        }),
      ),
    );
    expect(rules.ImdsLabelerDown!.labels).toEqual({ severity: 'info', team: 'platform', tier: 'nodes' });
    expect(rules.ImdsLabelerNodeUnlabelled!.labels).toEqual({ severity: 'critical', team: 'platform', tier: 'infra' });
    expect(rules.ImdsLabelerImdsStale!.labels).toEqual({ severity: 'warning', team: 'platform', tier: 'infra' });
  });

  it('puts annotations on the PrometheusRule and the monitors', () => {
    const objects = withRule({
      metrics: { prometheusRule: { annotations: { 'argocd.argoproj.io/sync-wave': '2' } }, podMonitor: { enabled: true, annotations: { note: 'pm' } } },
    });
    expect(find(objects, 'PrometheusRule').metadata.annotations).toEqual({ 'argocd.argoproj.io/sync-wave': '2' });
    expect(find(objects, 'PodMonitor').metadata.annotations).toEqual({ note: 'pm' });
  });

  it('leaves no placeholder and no Helm-evaluated Prometheus template', () => {
    const rules = rulesOf(withRule());
    const text = JSON.stringify(rules);
    expect(text).not.toContain('@@');
    expect(rules.find((r) => r.alert === 'ImdsLabelerDown')!.annotations.description).toContain('{{ $labels.namespace }}/{{ $labels.pod }}');
  });
});

/**
 * promtool on the rules the chart renders, with series labelled as the chart's own PodMonitor
 * labels them: the absence alert stays quiet and the down alert fires whatever the release is
 * called. The series of a differently named release make the absence alert fire.
 */
function promtoolCase(rules: RuleFile, series: { job: string; namespace: string }, absentLabels?: Record<string, string>) {
  const expectAbsent = absentLabels !== undefined;
  const dir = mkdtempSync(join(scratch, 'case-'));
  // Annotations left out: promtool compares them in full, and these cases are about selection
  // (the annotations are covered by the equality with the generator above).
  const bare = { groups: rules.groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations: _, ...r }) => r) })) };
  writeFileSync(join(dir, 'rules.yaml'), stringify(bare, { lineWidth: 0 }));
  const target = `job="${series.job}", namespace="${series.namespace}", pod="p-aaaaa", instance="10.0.0.1:9721", node="node-a"`;
  const tests = {
    rule_files: ['rules.yaml'],
    evaluation_interval: '1m',
    tests: [
      {
        interval: '1m',
        input_series: [
          { series: `up{${target}}`, values: '1 0x40' },
          { series: `imds_labeler_managed_labels{${target}}`, values: '0x40' },
        ],
        alert_rule_test: [
          { eval_time: '30m', alertname: 'ImdsLabelerAbsent', exp_alerts: expectAbsent ? [{ exp_labels: { severity: 'warning', ...absentLabels } }] : [] },
          {
            eval_time: '30m',
            alertname: 'ImdsLabelerDown',
            exp_alerts: expectAbsent ? [] : [{ exp_labels: { severity: 'warning', job: series.job, namespace: series.namespace, pod: 'p-aaaaa', instance: '10.0.0.1:9721', node: 'node-a' } }],
          },
          {
            eval_time: '30m',
            alertname: 'ImdsLabelerNodeUnlabelled',
            exp_alerts: expectAbsent ? [] : [{ exp_labels: { severity: 'critical', job: series.job, namespace: series.namespace, pod: 'p-aaaaa', instance: '10.0.0.1:9721', node: 'node-a' } }],
          },
        ],
      },
    ],
  };
  writeFileSync(join(dir, 'tests.yaml'), stringify(tests));
  return run(promtool, ['test', 'rules', 'tests.yaml'], dir);
}

const NAMINGS: { name: string; values: Record<string, unknown> }[] = [
  { name: 'default names', values: {} },
  { name: 'nameOverride', values: { nameOverride: 'node-topology' } },
  { name: 'fullnameOverride', values: { fullnameOverride: 'labeler' } },
  { name: 'both overrides', values: { nameOverride: 'azure-labels', fullnameOverride: 'az' } },
  { name: 'namespaceOverride', values: { namespaceOverride: 'kube-system' } },
];

describe('alerts under renamed releases (promtool)', () => {
  it.each(NAMINGS.map((c) => [c.name, c] as const))('%s: selects the series the chart\'s monitor produces', (_name, c) => {
    const objects = withRule(c.values);
    const r = promtoolCase(ruleFile(objects), scrapedAs(objects));
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  });

  it('fires the absence alert when the series belong to another release name', () => {
    const objects = withRule({ nameOverride: 'node-topology' });
    const mine = scrapedAs(objects);
    const other = scrapedAs(withRule());
    expect(other.job).not.toBe(mine.job);
    // absent() of equality matchers carries them as labels.
    const r = promtoolCase(ruleFile(objects), other, { job: mine.job, namespace: mine.namespace });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    // and the same series do not satisfy the expectations of a matching release
    expect(promtoolCase(ruleFile(objects), other).code).not.toBe(0);
  });
});
