import { stringify } from 'yaml';
import {
  DEFAULT_JOB_SELECTOR,
  DEFAULT_THRESHOLDS,
  imdsErrorRatio,
  m,
  patchErrorRatio,
  stale,
  throttledRatio,
  type Thresholds,
} from './promql.ts';

export const RUNBOOK_BASE = 'https://github.com/imds-labeler/imds-labeler/blob/main/docs/runbooks.md';

export const ALERT_NAMES = [
  'ImdsLabelerDown',
  'ImdsLabelerAbsent',
  'ImdsLabelerImdsStale',
  'ImdsLabelerImdsErrors',
  'ImdsLabelerImdsThrottled',
  'ImdsLabelerNodePatchesFailing',
  'ImdsLabelerHighMemory',
] as const;

export type AlertName = (typeof ALERT_NAMES)[number];

export const DEFAULT_FOR: Readonly<Record<AlertName, string>> = {
  ImdsLabelerDown: '10m',
  ImdsLabelerAbsent: '15m',
  ImdsLabelerImdsStale: '5m',
  ImdsLabelerImdsErrors: '15m',
  ImdsLabelerImdsThrottled: '15m',
  ImdsLabelerNodePatchesFailing: '15m',
  ImdsLabelerHighMemory: '15m',
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
  labels: { severity: 'warning' | 'critical' | 'info' };
  annotations: { summary: string; description: string; runbook_url: string };
}

export interface RuleFile {
  groups: { name: string; rules: AlertRule[] }[];
}

/** GitHub's anchor for a heading that is a single word. */
export const anchorOf = (name: string) => name.toLowerCase();

const WHERE = 'on {{ with $labels.node }}node {{ . }}{{ else }}{{ $labels.instance }}{{ end }} (pod {{ $labels.namespace }}/{{ $labels.pod }})';

/** The Prometheus alerting rules of the agent. */
export function alertRules(options: AlertOptions = {}): RuleFile {
  const sel = options.selector ?? DEFAULT_JOB_SELECTOR;
  const t: Thresholds = { ...DEFAULT_THRESHOLDS, ...options.thresholds };
  const forOf = (name: AlertName) => options.for?.[name] ?? DEFAULT_FOR[name];
  const base = options.runbookBase ?? RUNBOOK_BASE;
  const pct = (x: number) => `${+(x * 100).toFixed(2)}%`;
  const mib = (b: number) => `${+(b / 1024 / 1024).toFixed(1)} MiB`;

  const rule = (
    alert: AlertName,
    severity: AlertRule['labels']['severity'],
    expr: string,
    summary: string,
    description: string,
  ): AlertRule => ({
    alert,
    expr,
    for: forOf(alert),
    labels: { severity },
    annotations: { summary, description, runbook_url: `${base}#${anchorOf(alert)}` },
  });

  return {
    groups: [
      {
        name: 'imds-labeler',
        rules: [
          rule(
            'ImdsLabelerDown',
            'warning',
            `up{${sel}} == 0`,
            'Prometheus cannot scrape an imds-labeler agent.',
            `The agent ${WHERE} has failed its scrapes for ${forOf('ImdsLabelerDown')}. Its node's labels are not being kept up to date.`,
          ),
          rule(
            'ImdsLabelerAbsent',
            'warning',
            `absent(up{${sel}})`,
            'No imds-labeler agent is being scraped.',
            `Prometheus has had no scrape target matching {${sel}} for ${forOf('ImdsLabelerAbsent')}: the DaemonSet runs no pod, or its PodMonitor no longer selects them. New nodes get no labels.`,
          ),
          rule(
            'ImdsLabelerImdsStale',
            'warning',
            stale(sel, t.stalePeriods),
            'Node labels from IMDS are stale.',
            `The agent ${WHERE} has not fetched instance metadata from IMDS for {{ $value | humanizeDuration }}, more than ${t.stalePeriods} poll periods. The node's labels may no longer match the VM.`,
          ),
          rule(
            'ImdsLabelerImdsErrors',
            'warning',
            `${imdsErrorRatio(sel, t.window)} > ${t.imdsErrorRatio}`,
            'IMDS requests are failing.',
            `{{ $value | humanizePercentage }} of the IMDS requests of the agent ${WHERE} failed over the last ${t.window} (threshold ${pct(t.imdsErrorRatio)}, 429s not counted).`,
          ),
          rule(
            'ImdsLabelerImdsThrottled',
            'warning',
            `${throttledRatio(sel, t.window)} > ${t.throttledRatio}`,
            'IMDS is throttling the agent (HTTP 429).',
            `IMDS answered {{ $value | humanizePercentage }} of the requests of the agent ${WHERE} with HTTP 429 over the last ${t.window} (threshold ${pct(t.throttledRatio)}). Something on the node is calling IMDS more than 5 times per second.`,
          ),
          rule(
            'ImdsLabelerNodePatchesFailing',
            'warning',
            `${patchErrorRatio(sel, t.window)} > ${t.patchErrorRatio}`,
            'imds-labeler cannot patch its node.',
            `{{ $value | humanizePercentage }} of the node patches of the agent ${WHERE} failed over the last ${t.window} (threshold ${pct(t.patchErrorRatio)}). Label changes are not reaching the node.`,
          ),
          rule(
            'ImdsLabelerHighMemory',
            'warning',
            `${m('process_resident_memory_bytes', sel)} > ${t.memoryBytes}`,
            'imds-labeler uses more memory than expected.',
            `The agent ${WHERE} has used {{ $value | humanize1024 }}B of resident memory for ${forOf('ImdsLabelerHighMemory')} (threshold ${mib(t.memoryBytes)}). It may be leaking and get OOM-killed.`,
          ),
        ],
      },
    ],
  };
}

/** alerts.yaml: a plain Prometheus rules file (the chart wraps its groups in a PrometheusRule). */
export function renderAlerts(options: AlertOptions = {}): string {
  const header = [
    '# Generated by scripts/gen/alerts.ts; do not edit. Run `npm run generate`.',
    '# Prometheus alerting rules for imds-labeler; runbooks: docs/runbooks.md.',
    '# Annotations hold Prometheus templates ({{ $labels.node }}): include this file verbatim, not through Helm `tpl`.',
  ].join('\n');
  return `${header}\n${stringify(alertRules(options), { lineWidth: 0 })}`;
}
