import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from '../../scripts/generated.ts';
import { ALERT_NAMES, alertRules, DEFAULT_FOR, renderAlerts, RUNBOOK_BASE, type AlertName, type RuleFile } from '../../scripts/observability/alerts.ts';
import { DEFAULT_THRESHOLDS as T } from '../../scripts/observability/promql.ts';
import { knownSeriesNames, prefixedNames, selectedNames, selectors } from '../prometheus/promql.ts';

const ALERTS_PATH = 'charts/imds-labeler/files/alerts.yaml';
const file = parse(readFileSync(join(ROOT, ALERTS_PATH), 'utf8')) as RuleFile;
const rules = file.groups.flatMap((g) => g.rules);
const runbooks = readFileSync(join(ROOT, 'docs/runbooks.md'), 'utf8');
const known = await knownSeriesNames();

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, duplicates numbered. */
function githubAnchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const h = !fenced && /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const slug = h[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n ? `${slug}-${n}` : slug);
  }
  return anchors;
}

describe(`alerts (${ALERTS_PATH})`, () => {
  it('is a plain rules file with the expected alerts', () => {
    expect(Object.keys(file)).toEqual(['groups']);
    expect(rules.map((r) => r.alert)).toEqual([...ALERT_NAMES]);
  });

  it('gives every alert a severity, summary, description and runbook link', () => {
    for (const r of rules) {
      expect(['info', 'warning', 'critical'], r.alert).toContain(r.labels.severity);
      expect(r.annotations.summary, r.alert).toBeTruthy();
      expect(r.annotations.description.length, r.alert).toBeGreaterThan(40);
      expect(r.annotations.runbook_url, r.alert).toMatch(new RegExp(`^${RUNBOOK_BASE.replaceAll('.', '\\.')}#[a-z0-9-]+$`));
      expect(r.for, r.alert).toMatch(/^\d+[smh]$/);
    }
  });

  it('links every alert to a section of docs/runbooks.md, and every section to an alert', () => {
    const anchors = githubAnchors(runbooks);
    for (const r of rules) {
      const anchor = r.annotations.runbook_url.split('#')[1]!;
      expect(anchors.has(anchor), `${r.alert}: #${anchor} not in docs/runbooks.md`).toBe(true);
    }
    const sections = [...runbooks.matchAll(/^## (.+)$/gm)].map((x) => x[1]);
    expect(sections).toEqual([...ALERT_NAMES]);
  });

  it('covers meaning, impact, diagnosis and mitigation in every runbook section', () => {
    const sections = runbooks.split(/^## /m).slice(1);
    for (const s of sections) {
      const name = s.split('\n')[0];
      for (const part of ['**Meaning.**', '**Impact.**', '**Diagnosis.**', '**Mitigation.**']) expect(s, `${name}: ${part}`).toContain(part);
      expect(s, `${name}: commands`).toMatch(/```(sh|promql)/);
    }
  });

  it('states the default thresholds and durations in the runbooks', () => {
    const section = (name: AlertName) => runbooks.split(/^## /m).find((s) => s.startsWith(`${name}\n`)) ?? '';
    const minutes = (d: string) => `${Number(d.replace(/m$/, ''))} minutes`;
    for (const name of ALERT_NAMES) expect(section(name), `${name}: for`).toContain(minutes(DEFAULT_FOR[name]));
    expect(section('ImdsLabelerImdsStale')).toContain(`more than ${T.stalePeriods} of its poll periods`);
    expect(section('ImdsLabelerImdsErrors')).toContain(`More than ${T.imdsErrorRatio * 100}%`);
    expect(section('ImdsLabelerImdsThrottled')).toContain(`More than ${T.throttledRatio * 100}%`);
    expect(section('ImdsLabelerNodePatchesFailing')).toContain(`More than ${T.patchErrorRatio * 100}%`);
    expect(section('ImdsLabelerHighMemory')).toContain(`above ${+(T.memoryBytes / 1024 / 1024).toFixed(1)} MiB`);
    for (const name of ['ImdsLabelerImdsErrors', 'ImdsLabelerImdsThrottled', 'ImdsLabelerNodePatchesFailing'] as const) {
      expect(section(name), name).toContain(`over the last ${minutes(T.window)}`);
    }
  });

  it('uses only metrics the agent exposes (and up)', () => {
    for (const r of rules) {
      for (const name of [...selectedNames(r.expr), ...prefixedNames(r.expr)]) expect(name === 'up' || known.has(name), `${r.alert}: ${name}`).toBe(true);
    }
  });

  it('selects the agent by job in every selector, by default .*imds-labeler.*', () => {
    for (const r of rules) for (const s of selectors(r.expr)) expect(s.matchers, r.alert).toContain('job=~".*imds-labeler.*"');
  });

  it('measures staleness in poll periods', () => {
    const stale = rules.find((r) => r.alert === 'ImdsLabelerImdsStale')!;
    expect(stale.expr).toContain('imds_labeler_poll_period_seconds');
    expect(stale.expr).toContain('imds_labeler_imds_last_success_timestamp_seconds');
  });

  it('takes the job selector, for: durations and thresholds from the generator options', () => {
    const custom = alertRules({
      selector: 'job="agents", cluster="prod"',
      for: { ImdsLabelerImdsStale: '1s' },
      thresholds: { stalePeriods: 3, memoryBytes: 1000 },
      runbookBase: 'https://example.test/rb.md',
    });
    const all = custom.groups.flatMap((g) => g.rules);
    for (const r of all) {
      expect(r.expr, r.alert).not.toContain('imds-labeler.*');
      for (const s of selectors(r.expr)) expect(s.matchers, r.alert).toContain('job="agents", cluster="prod"');
      expect(r.annotations.runbook_url.startsWith('https://example.test/rb.md#'), r.alert).toBe(true);
    }
    expect(all.find((r) => r.alert === 'ImdsLabelerImdsStale')).toMatchObject({ for: '1s' });
    expect(all.find((r) => r.alert === 'ImdsLabelerImdsStale')!.expr).toContain('> 3 * imds_labeler_poll_period_seconds');
    expect(all.find((r) => r.alert === 'ImdsLabelerHighMemory')!.expr).toMatch(/> 1000$/);
    expect(all.find((r) => r.alert === 'ImdsLabelerDown')).toMatchObject({ for: '10m' });
  });

  it('renders YAML that reads back to the same rules', () => {
    const options = { selector: 'job="x"' };
    expect(parse(renderAlerts(options))).toEqual(alertRules(options));
  });
});
