import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REGIONAL_WIRE, ZONAL_WIRE } from '../helpers/instanceDocuments.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE = join(ROOT, 'node_modules/.bin/node');
const CLI = join(ROOT, 'cmd/imds-labeler.ts');
const dir = mkdtempSync(join(tmpdir(), 'imds-labeler-render-'));

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs the real CLI; env is scrubbed of IMDS_LABELER_* so the host cannot change the result. */
function run(args: string[], stdin?: string, env: Record<string, string> = {}): Promise<Run> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IMDS_LABELER_') && k !== 'NODE_NAME' && k !== 'KUBECONFIG'));
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [CLI, 'render', ...args], { cwd: ROOT, env: { ...clean, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

describe('imds-labeler render (a real process)', () => {
  it('prints sorted, stable JSON for a document file', async () => {
    const result = await run(['--file', file('zonal.json', JSON.stringify(ZONAL_WIRE))]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(`${JSON.stringify(
      {
        annotations: { 'imds-labeler.io/tags': '[{"name":"env","value":"prod"},{"name":"team","value":"payments"}]' },
        labels: {
          'imds-labeler.io/environment': 'AzurePublicCloud',
          'imds-labeler.io/fault-domain': '0',
          'imds-labeler.io/region': 'westeurope',
          'imds-labeler.io/update-domain': '3',
          'imds-labeler.io/vm-size': 'Standard_D4s_v5',
          'imds-labeler.io/zone': '2',
          'tags.imds-labeler.io/env': 'prod',
          'tags.imds-labeler.io/team': 'payments',
        },
        skipped: [],
      },
      null,
      2,
    )}\n`);
  });

  it('reads standard input, applies the shared label flags, and lists skipped tags and problems', async () => {
    const wire = { compute: { ...REGIONAL_WIRE.compute, vmSize: 'Standard A3', tags: 'Cost Center:R&D;team:a;secret:x' } };
    const result = await run(['--well-known-labels', '--label-prefix', 'example.com', '--tag-exclude', 'SECRET', '--extras', 'osType'], JSON.stringify(wire));
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(Object.keys(out)).toEqual(['annotations', 'labels', 'problems', 'skipped']);
    expect(out.labels).toEqual({
      'example.com/environment': 'AzurePublicCloud',
      'example.com/fault-domain': '36',
      'example.com/os-type': 'linux',
      'example.com/region': 'westus',
      'example.com/update-domain': '42',
      'tags.example.com/team': 'a',
      'topology.kubernetes.io/region': 'westus',
      'topology.kubernetes.io/zone': '36',
    });
    expect(out.skipped).toEqual([{ reason: 'invalid-name', tag: 'Cost Center' }, { reason: 'excluded', tag: 'secret' }]);
    expect(out.problems.map((p: { key: string }) => p.key)).toEqual(['example.com/vm-size', 'node.kubernetes.io/instance-type']);
    expect(JSON.parse(out.annotations['example.com/tags'])).toEqual([{ name: 'Cost Center', value: 'R&D' }, { name: 'team', value: 'a' }]);
  });

  it('reads standard input for --file -, and takes a bare compute document', async () => {
    const result = await run(['--file', '-'], JSON.stringify(REGIONAL_WIRE.compute));
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).labels['imds-labeler.io/vm-size']).toBe('Standard_A3');
  });

  it.each([
    ['not JSON', 'this is not json', /^imds-labeler render: standard input is not JSON: /],
    ['empty input', '', /^imds-labeler render: standard input is not JSON: it is empty\n$/],
    ['an array', '[1,2]', /^imds-labeler render: standard input: not an IMDS instance document: /],
    ['an object without compute', '{"hello":"world"}', /^imds-labeler render: standard input is not an IMDS instance document: it has no "compute" object/],
    ['a malformed field', '{"compute":{"platformFaultDomain":"two"}}', /^imds-labeler render: standard input: not an IMDS instance document: compute\.platformFaultDomain: /],
  ])('exits 2 with one line on stderr for %s', async (_, input, message) => {
    const result = await run([], input);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 2 for a file that is not JSON or does not exist', async () => {
    const bad = await run(['--file', file('bad.json', '{"compute":')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bad\.json is not JSON/);
    const missing = await run(['--file', join(dir, 'missing.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read .*missing\.json: ENOENT/);
  });

  it('exits 2 on a bad flag or label prefix', async () => {
    expect((await run(['--nope'], '{}')).code).toBe(2);
    const prefix = await run(['--label-prefix', 'kubernetes.io'], JSON.stringify(ZONAL_WIRE));
    expect(prefix.code).toBe(2);
    expect(prefix.stderr).toMatch(/labels\.prefix/);
  });

  it('prints usage with the shared flags for --help', async () => {
    const result = await run(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: imds-labeler render \[--file FILE\]/);
    expect(result.stdout).toContain('--label-prefix');
    expect(result.stdout).toContain('--tag-exclude');
  });
});
