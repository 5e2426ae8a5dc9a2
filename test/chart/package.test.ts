import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ROOT } from '../../scripts/generated.ts';
import { CHART_DIR, HELM, VAP_API, requireTool, runHelm } from '../../scripts/helm.ts';

/**
 * The chart as it is released: `helm package` to a temp dir, then every check on the .tgz, which
 * is what `helm push oci://...` uploads and what users install. A file missing from the package
 * (files/, the schema, the README) fails here even when the folder renders.
 */
requireTool(HELM);
const out = mkdtempSync(join(tmpdir(), 'imds-labeler-package-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const chart = parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as {
  name: string;
  version: string;
  appVersion: string;
  home: string;
  sources: string[];
  icon: string;
  maintainers: { name: string }[];
  annotations: Record<string, string>;
};
const values = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as { image: { repository: string } };

const packaged = runHelm(['package', CHART_DIR, '--destination', out]);
const tgz = join(out, `${chart.name}-${chart.version}.tgz`);
const listing = () => execFileSync('tar', ['tzf', tgz], { encoding: 'utf8' }).split('\n').filter(Boolean);

describe('helm package', () => {
  it('writes <name>-<version>.tgz, as helm push expects', () => {
    expect(packaged.ok, packaged.stderr).toBe(true);
    expect(readdirSync(out)).toEqual([`${chart.name}-${chart.version}.tgz`]);
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
  });

  it('holds the templates, the rule and dashboard files, the schema, the README and the ci values', () => {
    const files = listing();
    for (const f of ['Chart.yaml', 'values.yaml', 'values.schema.json', 'README.md', 'files/alerts.yaml', 'files/alerts.chart.yaml', 'files/dashboard-fleet.json', 'templates/daemonset.yaml', 'templates/_helpers.tpl']) {
      expect(files, f).toContain(`${chart.name}/${f}`);
    }
    expect(files.filter((f) => f.startsWith(`${chart.name}/ci/`)).length).toBeGreaterThan(0);
    expect(files.filter((f) => /\.(swp|bak|orig)$|~$/.test(f))).toEqual([]);
  });

  it('passes helm lint --strict', () => {
    const r = runHelm(['lint', '--strict', tgz]);
    expect(r.ok, r.stderr + r.stdout).toBe(true);
    expect(r.stdout).toContain('0 chart(s) failed');
  });

  it.each(readdirSync(join(CHART_DIR, 'ci')).filter((f) => f.endsWith('-values.yaml')))('renders with ci/%s', (file) => {
    const r = runHelm(['template', 'ci', tgz, '--namespace', 'imds-labeler', '--api-versions', VAP_API, '-f', join(CHART_DIR, 'ci', file)]);
    expect(r.ok, r.stderr).toBe(true);
    const kinds = parseAllDocuments(r.stdout).map((d) => (d.toJS() as { kind?: string } | null)?.kind);
    expect(kinds).toContain('DaemonSet');
    const lint = runHelm(['lint', '--strict', tgz, '-f', join(CHART_DIR, 'ci', file)]);
    expect(lint.ok, lint.stderr + lint.stdout).toBe(true);
  });

  it('shows the README with helm show readme', () => {
    const r = runHelm(['show', 'readme', tgz]);
    expect(r.ok, r.stderr).toBe(true);
    expect(r.stdout.trimEnd()).toBe(readFileSync(join(CHART_DIR, 'README.md'), 'utf8').trimEnd());
    expect(r.stdout).toContain(`--version ${chart.version}`);
    expect(r.stdout).toContain('--no-hooks');
  });
});

describe('Chart.yaml metadata', () => {
  it('names home, sources, maintainers and an icon', () => {
    expect(chart.home).toMatch(/^https:\/\//);
    expect(chart.sources.length).toBeGreaterThan(0);
    expect(chart.maintainers.length).toBeGreaterThan(0);
    expect(chart.icon).toMatch(/^https:\/\/.+\.svg$/);
    // The icon the URL points at is in the repository.
    const iconPath = chart.icon.replace(/^https:\/\/raw\.githubusercontent\.com\/[^/]+\/[^/]+\/main\//, '');
    expect(readFileSync(join(ROOT, iconPath), 'utf8')).toContain('<svg');
  });

  it('lists the image the chart runs by default (artifacthub.io/images)', () => {
    const images = parse(chart.annotations['artifacthub.io/images']!) as { name: string; image: string }[];
    expect(images.map((i) => i.image)).toEqual([`${values.image.repository}:${chart.appVersion}`]);
  });

  it('repeats the CHANGELOG section of its version (artifacthub.io/changes)', () => {
    const changes = parse(chart.annotations['artifacthub.io/changes']!) as { kind: string; description: string }[];
    const changelog = readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8');
    const section = changelog.split(/^## /m).find((s) => s.startsWith(`${chart.version} `) || s.startsWith(`${chart.version}\n`));
    expect(section, `CHANGELOG.md has no section ${chart.version}`).toBeDefined();
    const KINDS: Record<string, string> = { Added: 'added', Changed: 'changed', Deprecated: 'deprecated', Removed: 'removed', Fixed: 'fixed', Security: 'security' };
    const fromChangelog = section!
      .split(/^### /m)
      .slice(1)
      .flatMap((part) => {
        const [heading, ...lines] = part.split('\n');
        const kind = KINDS[heading!.trim()];
        return kind ? lines.filter((l) => l.startsWith('- ')).map((l) => ({ kind, description: l.slice(2).trim() })) : [];
      });
    expect(changes).toEqual(fromChangelog);
    expect(changes.length).toBeGreaterThan(0);
  });
});
