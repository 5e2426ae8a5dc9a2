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
import { fillCompileCache, imageEnv, imageNodeEnv, imageNodeOptions } from '../helpers/bundledAgent.ts';
import { waitFor } from '../helpers/wait.ts';

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

/** The bundle's entry with `args`, from the image's folder, with no NODE_OPTIONS, NODE_PATH or loaders from the test runner. */
function spawnBundle(args: string[], o: { nodeOptions?: string[]; env?: Record<string, string | undefined>; stdout?: 'pipe' | 'ignore' } = {}) {
  return spawn(process.execPath, [...(o.nodeOptions ?? []), join(app, 'imds-labeler.mjs'), ...args], {
    cwd: app,
    env: { PATH: process.env.PATH, HOME: app, ...o.env },
    stdio: ['ignore', o.stdout ?? 'pipe', 'pipe'],
  });
}

function run(args: string[], nodeOptions: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawnBundle(args, { nodeOptions });
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The agent subcommand against a local emulator and sandbox; stderr is kept for the assertions. */
function spawnAgent(opts: { nodeName: string; kubeconfig: string; imdsUrl: string; extraArgs?: string[]; nodeOptions?: string[]; env?: Record<string, string | undefined> }) {
  const args = ['agent', '--node-name', opts.nodeName, '--kubeconfig', opts.kubeconfig, '--imds-endpoint', opts.imdsUrl, '--port', '0', '--address', '127.0.0.1', '--poll-jitter', '0', ...(opts.extraArgs ?? [])];
  const proc = spawnBundle(args, { ...(opts.nodeOptions ? { nodeOptions: opts.nodeOptions } : {}), ...(opts.env ? { env: opts.env } : {}), stdout: 'ignore' });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  return { proc, stderr: () => stderr };
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

  it("carries client-node's KubeConfig and none of its generated API client: no API classes, models, undici or js-yaml", () => {
    const kept = Object.values(built.metafile.outputs).flatMap((o) => Object.entries(o.inputs).filter(([, v]) => v.bytesInOutput > 0).map(([i]) => i));
    expect(kept.some((i) => i.endsWith('client-node/dist/config.js'))).toBe(true);
    expect(kept.filter((i) => /client-node\/dist\/(gen\/(apis|models|types)\/|watch\.js)|node_modules\/(undici|js-yaml)\//.test(i))).toEqual([]);
  });

  it('outside a cluster with no kubeconfig: exit 2 at once with what to do', async () => {
    const r = await run(['agent', '--node-name', 'n', '--port', '0'], imageNodeOptions(app));
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/no Kubernetes configuration: not in a pod .*pass --kubeconfig FILE/);
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

    const { proc: agent, stderr } = spawnAgent({ nodeName: 'big-node', kubeconfig, imdsUrl: emulator.url, extraArgs: ['--poll-period', '100ms'], nodeOptions: imageNodeOptions(app) });
    try {
      await waitFor('5 polls', () => emulator.requests().total >= 5 || agent.exitCode !== null, { timeoutMs: 60_000, everyMs: 20 });
      expect(agent.exitCode, stderr()).toBeNull();
      const labels = sandbox.getNode('big-node')?.metadata?.labels ?? {};
      expect(labels['imds-labeler.io/vm-size']).toBe(String((doc.compute as { vmSize: string }).vmSize));
    } finally {
      agent.kill('SIGKILL');
      await Promise.all([emulator.close(), sandbox.close()]);
    }
  }, 90_000);

  it("starts from the image's compile cache: V8 accepts the code cache of every module the agent loads", async () => {
    // As the Dockerfile does: the node options in NODE_OPTIONS, the cache filled by the image's
    // own node before the agent runs. A V8 flag changed at run time would make V8 refuse the
    // cache for every module loaded after it, and the pod would compile them at every start.
    expect(imageEnv(app).NODE_COMPILE_CACHE, 'the Dockerfile sets NODE_COMPILE_CACHE').toBeDefined();
    fillCompileCache(app);
    const emulator = await startEmulator({ fixture: builtInFixture('default'), rateLimitPerSecond: 0 });
    const sandbox = await startSandbox({ port: 0, nodes: ['cached-node'] });
    const kubeconfig = join(dirname(app), 'kubeconfig-cache');
    sandbox.writeKubeconfig(kubeconfig);
    const { proc: agent, stderr } = spawnAgent({ nodeName: 'cached-node', kubeconfig, imdsUrl: emulator.url, env: { ...imageNodeEnv(app), NODE_DEBUG_NATIVE: 'COMPILE_CACHE' } });
    try {
      await waitFor('labels', () => 'imds-labeler.io/vm-size' in (sandbox.getNode('cached-node')?.metadata?.labels ?? {}) || agent.exitCode !== null, { timeoutMs: 30_000, everyMs: 20 });
      expect(agent.exitCode, stderr().slice(-2_000)).toBeNull();
    } finally {
      agent.kill('SIGKILL');
      await Promise.all([emulator.close(), sandbox.close()]);
    }
    const verdicts = [...stderr().matchAll(/V8 code cache for ESM (\S+) was (accepted|rejected)/g)].map(([, url, verdict]) => ({ module: url!.slice(url!.lastIndexOf('/') + 1), verdict }));
    expect(verdicts.filter((v) => v.verdict === 'rejected')).toEqual([]);
    // The agent's path: its subcommand chunk, its dependencies and its run loop, at least.
    expect(verdicts.map((v) => v.module)).toEqual(expect.arrayContaining([expect.stringMatching(/^agent-/), expect.stringMatching(/^dependencies-/), expect.stringMatching(/^run-/)]));
  }, 60_000);

  it('cleans 2,000 nodes of about 12 KB each with the image\'s node options, a page at a time', async () => {
    // The whole list (24 MB of JSON, more as objects) does not fit the image's 16 MiB old space.
    const names = Array.from({ length: 2_000 }, (_, i) => `node-${String(i).padStart(4, '0')}`);
    const sandbox = await startSandbox({ port: 0, nodes: names });
    const padding = 'p'.repeat(12 * 1024);
    for (const name of names) {
      const node = sandbox.getNode(name)!;
      const meta = node.metadata as { labels: Record<string, string>; annotations?: Record<string, string> };
      sandbox.putNode({
        ...node,
        metadata: {
          ...node.metadata,
          labels: { ...meta.labels, 'imds-labeler.io/zone': '1' },
          annotations: { ...meta.annotations, 'example.com/padding': padding, 'imds-labeler.io/owned-labels': 'imds-labeler.io/zone' },
        },
      });
    }
    const kubeconfig = join(dirname(app), 'kubeconfig-cleanup');
    sandbox.writeKubeconfig(kubeconfig);
    try {
      const r = await run(['cleanup', '--all-nodes', '--kubeconfig', kubeconfig, '--log-level', 'warn'], imageNodeOptions(app));
      expect(r.code, r.stderr.slice(-2_000)).toBe(0);
      const left = names.filter((name) => 'imds-labeler.io/zone' in ((sandbox.getNode(name)!.metadata as { labels: Record<string, string> }).labels));
      expect(left).toEqual([]);
      expect(sandbox.counters().byVerbResource['patch nodes']).toBe(2_000);
    } finally {
      await sandbox.close();
    }
  }, 300_000);
});
