import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from '../../scripts/generated.ts';
import { ALERT_NAMES, renderAlerts } from '../../scripts/observability/alerts.ts';
import { run, tool } from './tools.ts';

const ALERTS = join(ROOT, 'charts/imds-labeler/files/alerts.yaml');
const TESTS = join(ROOT, 'test/prometheus/alerts.test.yaml');
const promtool = tool('promtool');
const scratch = mkdtempSync(join(tmpdir(), 'imds-labeler-rules-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const explain = (r: { stdout: string; stderr: string }) => `${r.stdout}\n${r.stderr}`;

/** Runs the promtool unit tests against another rules file, in a scratch copy of the layout. */
function testRulesAgainst(rules: string) {
  const dir = mkdtempSync(join(scratch, 'case-'));
  const rulesFile = join(dir, 'alerts.yaml');
  writeFileSync(rulesFile, rules);
  const tests = readFileSync(TESTS, 'utf8').replace('../../charts/imds-labeler/files/alerts.yaml', rulesFile);
  writeFileSync(join(dir, 'alerts.test.yaml'), tests);
  return run(promtool, ['test', 'rules', 'alerts.test.yaml'], dir);
}

describe('alerting rules with promtool', () => {
  it('passes promtool check rules', () => {
    const r = run(promtool, ['check', 'rules', ALERTS]);
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout).toContain(`SUCCESS: ${ALERT_NAMES.length} rules found`);
  });

  it('passes the promtool unit tests (test/prometheus/alerts.test.yaml)', () => {
    const r = run(promtool, ['test', 'rules', 'alerts.test.yaml'], join(ROOT, 'test/prometheus'));
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout).toContain('SUCCESS');
  });

  it('tests every alert both firing and not firing', () => {
    const doc = parse(readFileSync(TESTS, 'utf8')) as { tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[] };
    const cases = doc.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const name of ALERT_NAMES) {
      const mine = cases.filter((c) => c.alertname === name);
      expect(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${name} fires somewhere`).toBe(true);
      expect(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${name} stays quiet somewhere`).toBe(true);
    }
  });

  it('fails promtool check rules on a broken copy', () => {
    const broken = join(scratch, 'broken.yaml');
    copyFileSync(ALERTS, broken);
    writeFileSync(broken, readFileSync(broken, 'utf8').replace('expr: up{', 'expr: up{{'));
    const r = run(promtool, ['check', 'rules', broken]);
    expect(r.code).not.toBe(0);
    expect(explain(r)).toMatch(/parse error|unexpected/);
  });

  it('fails the unit tests when an alert stops firing as it should', () => {
    // Sanity check of the harness: the unmodified rules pass from the scratch layout...
    const same = testRulesAgainst(readFileSync(ALERTS, 'utf8'));
    expect(same.code, explain(same)).toBe(0);
    // ...and a stale threshold of 100 periods instead of 5 fails them.
    const r = testRulesAgainst(renderAlerts({ thresholds: { stalePeriods: 100 } }));
    expect(r.code).not.toBe(0);
    expect(explain(r)).toContain('ImdsLabelerImdsStale');
  });

  it('fails the unit tests when an alert fires where it must not', () => {
    const r = testRulesAgainst(renderAlerts({ thresholds: { imdsErrorRatio: 0.05 } }));
    expect(r.code).not.toBe(0);
    expect(explain(r)).toContain('ImdsLabelerImdsErrors');
  });
});
