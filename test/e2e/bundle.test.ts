import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle, type BuildResult } from '../../scripts/build.ts';
import { configSchema } from '../../src/config/schema.ts';
import { builtInFixture } from '../../testbed/imds-emulator/fixtures.ts';
import { startEmulator } from '../../testbed/imds-emulator/server.ts';
import { startSandbox } from '../../testbed/kube-sandbox/server.ts';
import { imageNodeOptions } from '../bench/lib/env.ts';
import { until } from '../bench/lib/stats.ts';

/**
 * The bundle is all the image ships: the product's subcommands, run from a folder with no
 * node_modules anywhere above it, with the image's node options (--jitless included).
 */
let buildDir: string;
let built: BuildResult;
let app: string;

beforeAll(async () => {
  buildDir = mkdtempSync(join(tmpdir(), 'imds-labeler-bundle-build-'));
  built = await buildBundle({ outdir: join(buildDir, 'dist') });
  // A clean folder, as the image's /app: the bundle files and nothing else.
  app = join(mkdtempSync(join(tmpdir(), 'imds-labeler-bundle-')), 'app');
  cpSync(join(buildDir, 'dist'), app, { recursive: true });
});
afterAll(() => {
  rmSync(buildDir, { recursive: true, force: true });
  rmSync(dirname(app), { recursive: true, force: true });
});

function run(args: string[], nodeOptions: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [...nodeOptions, join(app, 'imds-labeler.mjs'), ...args], {
      cwd: app,
      // No NODE_OPTIONS, NODE_PATH or loaders from the test runner.
      env: { PATH: process.env.PATH, HOME: app },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the bundle (dist/) on its own', () => {
  it('is the entry and its chunks, with no node_modules above it', () => {
    expect(readdirSync(app)).toContain('imds-labeler.mjs');
    for (let dir = app; dir !== dirname(dir); dir = dirname(dir)) expect(existsSync(join(dir, 'node_modules'))).toBe(false);
  });

  it('prints the top-level help and a subcommand help', async () => {
    const top = await run(['--help']);
    expect(top.code, top.stderr).toBe(0);
    expect(top.stdout).toContain('Usage: imds-labeler <command>');
    const agent = await run(['agent', '--help']);
    expect(agent.code, agent.stderr).toBe(0);
    expect(agent.stdout).toContain('Usage: imds-labeler agent');
  });

  it('ships the product only: no stand-in is in the bundle or answers as a command', async () => {
    const inputs = Object.values(built.metafile.outputs).flatMap((o) => Object.keys(o.inputs));
    expect(inputs.filter((i) => i.startsWith('testbed/'))).toEqual([]);
    for (const standIn of ['demo', 'emulator', 'sandbox']) {
      const r = await run([standIn, '--help'], imageNodeOptions(app));
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`unknown command "${standIn}"`);
    }
  });

  it('runs the agent with the image\'s node options on the largest IMDS answer it accepts', async () => {
    // The image caps V8's old space (Dockerfile); the agent must still parse an answer just under
    // imds.maxResponseBytes: thousands of addresses on a NIC, 50 tags at Azure's size limits.
    const maxBytes = configSchema.parse({}).imds.maxResponseBytes;
    const doc = structuredClone(builtInFixture('default')) as { compute: Record<string, unknown>; network: { interface: { ipv4: { ipAddress: unknown[] } }[] } };
    doc.compute.tagsList = Array.from({ length: 50 }, (_, i) => ({ name: `tag-${i}-${'n'.repeat(500)}`, value: 'v'.repeat(256) }));
    const addresses = doc.network.interface[0]!.ipv4.ipAddress;
    for (let i = 0; JSON.stringify(doc).length < maxBytes - 2_000; i++) addresses.push({ privateIpAddress: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, publicIpAddress: '' });
    const emulator = await startEmulator({ fixture: doc, rateLimitPerSecond: 0 });
    const sandbox = await startSandbox({ port: 0, nodes: ['big-node'] });
    const kubeconfig = join(dirname(app), 'kubeconfig');
    sandbox.writeKubeconfig(kubeconfig);
    const answer = await fetch(`${emulator.url}/metadata/instance?api-version=2021-02-01`, { headers: { Metadata: 'true' } });
    const size = (await answer.arrayBuffer()).byteLength;
    expect(size).toBeGreaterThan(maxBytes * 0.95);
    expect(size).toBeLessThanOrEqual(maxBytes);

    const agent = spawn(process.execPath, [...imageNodeOptions(app), join(app, 'imds-labeler.mjs'), 'agent', '--node-name', 'big-node', '--kubeconfig', kubeconfig, '--imds-endpoint', emulator.url, '--port', '0', '--address', '127.0.0.1', '--poll-period', '100ms', '--poll-jitter', '0'], {
      cwd: app,
      env: { PATH: process.env.PATH, HOME: app },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    agent.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      await until('5 polls', () => emulator.requests().total >= 5 || agent.exitCode !== null, 60_000, 20);
      expect(agent.exitCode, stderr).toBeNull();
      const labels = sandbox.getNode('big-node')?.metadata?.labels ?? {};
      expect(labels['imds-labeler.io/vm-size']).toBe(String((doc.compute as { vmSize: string }).vmSize));
    } finally {
      agent.kill('SIGKILL');
      await Promise.all([emulator.close(), sandbox.close()]);
    }
  }, 90_000);
});
