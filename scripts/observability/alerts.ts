import { stringify } from 'yaml';
import {
  DEFAULT_JOB_SELECTOR,
  DEFAULT_THRESHOLDS,
  imdsErrorRatio,
  m,
  patchErrorRatio,
  pendingMaintenance,
  rt,
  stale,
  throttledRatio,
  type Thresholds,
} from './promql.ts';

export const RUNBOOK_BASE = 'https://github.com/imds-labeler/imds-labeler/blob/main/docs/runbooks.md';

export const ALERT_NAMES = [
  'ImdsLabelerDown',
  'ImdsLabelerAbsent',
  'ImdsLabelerNodeUnlabelled',
  'ImdsLabelerImdsStale',
  'ImdsLabelerImdsErrors',
  'ImdsLabelerImdsThrottled',
  'ImdsLabelerNodePatchesFailing',
  'ImdsLabelerHighMemory',
  'ImdsLabelerMaintenancePending',
] as const;

export type AlertName = (typeof ALERT_NAMES)[number];

export type Severity = 'warning' | 'critical' | 'info';

export const DEFAULT_FOR: Readonly<Record<AlertName, string>> = {
  ImdsLabelerDown: '10m',
  ImdsLabelerAbsent: '15m',
  ImdsLabelerNodeUnlabelled: '15m',
  ImdsLabelerImdsStale: '5m',
  ImdsLabelerImdsErrors: '15m',
  ImdsLabelerImdsThrottled: '15m',
  ImdsLabelerNodePatchesFailing: '15m',
  ImdsLabelerHighMemory: '15m',
  ImdsLabelerMaintenancePending: '2m',
};

/**
 * Critical only where workloads stop scheduling: a node the agent has never labelled is left out
 * of every `whenUnsatisfiable: DoNotSchedule` spread and every required affinity on the labels.
 * Everything else leaves the last labels in place, so it can wait for working hours.
 */
export const DEFAULT_SEVERITY: Readonly<Record<AlertName, Severity>> = {
  ImdsLabelerDown: 'warning',
  ImdsLabelerAbsent: 'warning',
  ImdsLabelerNodeUnlabelled: 'critical',
  ImdsLabelerImdsStale: 'warning',
  ImdsLabelerImdsErrors: 'warning',
  ImdsLabelerImdsThrottled: 'warning',
  ImdsLabelerNodePatchesFailing: 'warning',
  ImdsLabelerHighMemory: 'warning',
  ImdsLabelerMaintenancePending: 'warning',
};

export interface AlertOptions {
  /** Label matchers selecting the agent's series, `up` included. */
  selector?: string;
  /** `for:` of each alert; the tests render short ones. */
  for?: Partial<Record<AlertName, string>>;
  thresholds?: Partial<Thresholds>;
  /** The runbook document; each alert links to its section. */
  runbookBase?: string;
}

export interface AlertRule {
  alert: AlertName;
  expr: string;
  for: string;
  labels: { severity: Severity } & Record<string, string>;
  annotations: { summary: string; description: string; runbook_url: string };
}

export interface RuleFile {
  groups: { name: string; rules: AlertRule[] }[];
}

/** GitHub's anchor for a heading that is a single word. */
export const anchorOf = (name: string) => name.toLowerCase();

const WHERE = 'on {{ with $labels.node }}node {{ . }}{{ else }}{{ $labels.instance }}{{ end }} (pod {{ $labels.namespace }}/{{ $labels.pod }})';

/**
 * Every value the rules are built from, as the text that goes into them. The plain rules file
 * fills it from numbers (`paramsOf`); the chart's PrometheusRule fills the same names from its
 * values (`CHART_PLACEHOLDERS`), so both come from the one rule text below.
 */
export interface RuleParams {
  selector: string;
  runbookBase: string;
  stalePeriods: string;
  imdsErrorRatio: string;
  imdsErrorRatioPct: string;
  throttledRatio: string;
  throttledRatioPct: string;
  patchErrorRatio: string;
  patchErrorRatioPct: string;
  memoryBytes: string;
  memoryMiB: string;
  window: string;
  for: Record<AlertName, string>;
}

const pct = (x: number) => `${+(x * 100).toFixed(2)}%`;
const mib = (b: number) => `${+(b / 1024 / 1024).toFixed(1)} MiB`;

export function paramsOf(options: AlertOptions = {}): RuleParams {
  const t: Thresholds = { ...DEFAULT_THRESHOLDS, ...options.thresholds };
  return {
    selector: options.selector ?? DEFAULT_JOB_SELECTOR,
    runbookBase: options.runbookBase ?? RUNBOOK_BASE,
    stalePeriods: String(t.stalePeriods),
    imdsErrorRatio: String(t.imdsErrorRatio),
    imdsErrorRatioPct: pct(t.imdsErrorRatio),
    throttledRatio: String(t.throttledRatio),
    throttledRatioPct: pct(t.throttledRatio),
    patchErrorRatio: String(t.patchErrorRatio),
    patchErrorRatioPct: pct(t.patchErrorRatio),
    memoryBytes: String(t.memoryBytes),
    memoryMiB: mib(t.memoryBytes),
    window: t.window,
    for: Object.fromEntries(ALERT_NAMES.map((a) => [a, options.for?.[a] ?? DEFAULT_FOR[a]])) as Record<AlertName, string>,
  };
}

/** `@@name@@` for every parameter: what the chart's template replaces with the values it computes. */
export const placeholder = (name: string) => `@@${name}@@`;
export const CHART_PLACEHOLDERS: RuleParams = {
  ...(Object.fromEntries(
    (Object.keys(paramsOf()) as (keyof RuleParams)[]).filter((k) => k !== 'for').map((k) => [k, placeholder(k)]),
  ) as Omit<RuleParams, 'for'>),
  for: Object.fromEntries(ALERT_NAMES.map((a) => [a, placeholder(`for.${a}`)])) as Record<AlertName, string>,
};

/** The rules, with every tunable taken from `p` as text. */
export function rulesFrom(p: RuleParams): RuleFile {
  const sel = p.selector;
  const rule = (alert: AlertName, expr: string, summary: string, description: string): AlertRule => ({
    alert,
    expr,
    for: p.for[alert],
    labels: { severity: DEFAULT_SEVERITY[alert] },
    annotations: { summary, description, runbook_url: `${p.runbookBase}#${anchorOf(alert)}` },
  });

  return {
    groups: [
      {
        name: 'imds-labeler',
        rules: [
          rule(
            'ImdsLabelerDown',
            `up{${sel}} == 0`,
            'Prometheus cannot scrape an imds-labeler agent.',
            `The agent ${WHERE} has failed its scrapes for ${p.for.ImdsLabelerDown}. Its node's labels are not being kept up to date.`,
          ),
          rule(
            'ImdsLabelerAbsent',
            `absent(up{${sel}})`,
            'No imds-labeler agent is being scraped.',
            `Prometheus has had no scrape target matching {${sel}} for ${p.for.ImdsLabelerAbsent}: the DaemonSet runs no pod, or its PodMonitor no longer selects them. New nodes get no labels.`,
          ),
          rule(
            'ImdsLabelerNodeUnlabelled',
            // `max without ()` drops the metric name so the alert carries only the target's labels.
            `max without () (${m('managed_labels', sel)}) == 0`,
            'A node has none of the labels imds-labeler writes.',
            `The agent ${WHERE} has owned no label on its node for ${p.for.ImdsLabelerNodeUnlabelled}. Workloads that spread with whenUnsatisfiable: DoNotSchedule or require these labels in their node affinity leave this node out, and may stay Pending.`,
          ),
          rule(
            'ImdsLabelerImdsStale',
            stale(sel, p.stalePeriods),
            'Node labels from IMDS are stale.',
            `The agent ${WHERE} has not fetched instance metadata from IMDS for {{ $value | humanizeDuration }}, more than ${p.stalePeriods} poll periods. The node's labels may no longer match the VM.`,
          ),
          rule(
            'ImdsLabelerImdsErrors',
            `${imdsErrorRatio(sel, p.window)} > ${p.imdsErrorRatio}`,
            'IMDS requests are failing.',
            `{{ $value | humanizePercentage }} of the IMDS requests of the agent ${WHERE} failed over the last ${p.window} (threshold ${p.imdsErrorRatioPct}, 429s not counted).`,
          ),
          rule(
            'ImdsLabelerImdsThrottled',
            `${throttledRatio(sel, p.window)} > ${p.throttledRatio}`,
            'IMDS is throttling the agent (HTTP 429).',
            `IMDS answered {{ $value | humanizePercentage }} of the requests of the agent ${WHERE} with HTTP 429 over the last ${p.window} (threshold ${p.throttledRatioPct}). Something on the node is calling IMDS more than 5 times per second.`,
          ),
          rule(
            'ImdsLabelerNodePatchesFailing',
            `${patchErrorRatio(sel, p.window)} > ${p.patchErrorRatio}`,
            'imds-labeler cannot patch its node.',
            `{{ $value | humanizePercentage }} of the node patches of the agent ${WHERE} failed over the last ${p.window} (threshold ${p.patchErrorRatioPct}). Label changes are not reaching the node.`,
          ),
          rule(
            'ImdsLabelerHighMemory',
            `${rt('process_resident_memory_bytes', sel)} > ${p.memoryBytes}`,
            'imds-labeler uses more memory than expected.',
            `The agent ${WHERE} has used {{ $value | humanize1024 }}B of resident memory for ${p.for.ImdsLabelerHighMemory} (threshold ${p.memoryMiB}, a share of the container's memory limit). It may be leaking and get OOM-killed.`,
          ),
          rule(
            'ImdsLabelerMaintenancePending',
            // `max without ()` drops the metric name; event_type stays, so each type alerts on its own.
            `max without () (${pendingMaintenance(sel)})`,
            'Azure has scheduled maintenance that will disrupt a node.',
            `The VM of the agent ${WHERE} has {{ $value }} pending {{ $labels.event_type }} scheduled event(s): Azure is about to reboot, redeploy, preempt or delete it. The node's MaintenanceScheduled condition and scheduled-event annotation (under the agent's prefix) say when; drain it before then.`,
          ),
        ],
      },
    ],
  };
}

/** The Prometheus alerting rules of the agent. */
export const alertRules = (options: AlertOptions = {}): RuleFile => rulesFrom(paramsOf(options));

/** alerts.yaml: a plain Prometheus rules file for a Prometheus without the operator. */
export function renderAlerts(options: AlertOptions = {}): string {
  const header = [
    '# Generated by scripts/gen/alerts.ts; do not edit. Run `npm run generate`.',
    '# Prometheus alerting rules for imds-labeler; runbooks: docs/runbooks.md.',
    '# The chart renders its PrometheusRule from alerts.chart.yaml instead, with the selector and thresholds of its values.',
    '# Annotations hold Prometheus templates ({{ $labels.node }}): include this file verbatim, not through Helm `tpl`.',
  ].join('\n');
  return `${header}\n${stringify(alertRules(options), { lineWidth: 0 })}`;
}

/**
 * alerts.chart.yaml: the same rules with `@@name@@` where a value goes. The chart's
 * prometheusrule.yaml parses it and replaces each placeholder inside the parsed strings (so a
 * selector's quotes cannot break the YAML), and sets `for`, severity and labels per alert.
 */
export function renderChartAlerts(): string {
  const header = [
    '# Generated by scripts/gen/alerts.ts; do not edit. Run `npm run generate`.',
    '# The rules of alerts.yaml with @@placeholders@@ that templates/prometheusrule.yaml fills from',
    '# metrics.prometheusRule.* (selector, runbookBaseUrl, thresholds, alerts.<name>.for).',
  ].join('\n');
  return `${header}\n${stringify(rulesFrom(CHART_PLACEHOLDERS), { lineWidth: 0 })}`;
}
