import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { builtInFixture } from '../../testbed/imds-emulator/fixtures.ts';
import { startEmulator, type Emulator } from '../../testbed/imds-emulator/server.ts';
import { startSandbox, type Sandbox } from '../../testbed/kube-sandbox/server.ts';
import { ENTRY, startAgentProcess, type AgentProcess } from '../helpers/agentProcess.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * The agent's logs, from the real process: JSON lines on stdout by default, one line per change
 * applied naming the keys, errors with their context (endpoint or node, status, attempt) and
 * never a whole API body, and readable lines with --log-format pretty.
 */

const NODE = 'aks-logs-0';
const dir = mkdtempSync(join(tmpdir(), 'imds-labeler-logs-'));
const kubeconfig = join(dir, 'kubeconfig');
const config = join(dir, 'config.yaml');
let emulator: Emulator;
let sandbox: Sandbox;
let agent: AgentProcess | undefined;

type Line = Record<string, unknown>;
type Doc = { compute: { tagsList: { name: string; value: string }[]; tags?: string } & Record<string, unknown> } & Record<string, unknown>;
const withTag = (name: string, value: string): Doc => {
  const doc = builtInFixture('default') as Doc;
  doc.compute.tagsList = [...doc.compute.tagsList.filter((t) => t.name !== name), { name, value }];
  doc.compute.tags = doc.compute.tagsList.map((t) => `${t.name}:${t.value}`).join(';');
  return doc;
};
const args = (...extra: string[]) => [
  '--config', config,
  '--node-name', NODE,
  '--kubeconfig', kubeconfig,
  '--imds-endpoint', emulator.url,
  '--poll-period', '200ms',
  '--poll-jitter', '0',
  ...extra,
];
const start = () => startAgentProcess(args());
const ready = (a: AgentProcess) => waitFor('readyz', () => fetch(`http://127.0.0.1:${a.port}/readyz`).then((r) => r.status), { accept: (s) => s === 200, timeoutMs: 20_000 });
const applied = (a: AgentProcess) => a.logs.filter((l) => l.msg === 'applied label changes');
/** What an apiserver error body looks like, which must never be logged whole. */
const STATUS_BODY = /"kind"\s*:\s*"Status"|"apiVersion"/;

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, fixture: builtInFixture('default') });
  sandbox = await startSandbox({ port: 0, nodes: [NODE] });
  sandbox.writeKubeconfig(kubeconfig);
  // A poll gives up after 1 s of retries, so a failing poll is logged quickly.
  writeFileSync(config, 'imds:\n  retryBudget: 1s\n');
});
afterAll(async () => {
  await emulator?.close();
  await sandbox?.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  emulator.setFaults({ faults: [] });
  emulator.setFixture(builtInFixture('default'));
  sandbox.setFaults({ faults: [] });
});

describe('agent logs', () => {
  it('are JSON lines on stdout by default, with one "applied label changes" line per change naming the keys', async () => {
    // Start from a node without our labels, so the first sync applies changes.
    const node = sandbox.getNode(NODE)!;
    const foreign = Object.fromEntries(Object.entries(node.metadata.labels as Record<string, string>).filter(([k]) => !k.includes('imds-labeler.io')));
    const annotations = Object.fromEntries(Object.entries((node.metadata.annotations ?? {}) as Record<string, string>).filter(([k]) => !k.includes('imds-labeler.io')));
    sandbox.putNode({ ...node, metadata: { ...node.metadata, labels: foreign, annotations } });

    agent = await start();
    await ready(agent);
    const [first] = applied(agent);
    expect(applied(agent)).toHaveLength(1);
    expect(first).toMatchObject({ level: 'info', node: NODE, changes: { labels: { changed: [], removed: [] }, annotations: { changed: [], removed: [] } } });
    const changes = first!.changes as { labels: { added: string[] }; annotations: { added: string[] } };
    expect(changes.labels.added).toEqual(expect.arrayContaining(['imds-labeler.io/zone', 'imds-labeler.io/vm-size', 'tags.imds-labeler.io/foo']));
    expect(changes.annotations.added).toEqual(['imds-labeler.io/tags']);
    // Keys, not values.
    expect(JSON.stringify(first)).not.toContain('Standard_A3');

    emulator.setFixture(withTag('foo', 'qux'));
    await agent.waitForLog((l) => l.msg === 'applied label changes' && l !== first);
    expect(applied(agent)[1]).toMatchObject({
      changes: {
        labels: { added: [], changed: ['tags.imds-labeler.io/foo'], removed: [] },
        annotations: { added: [], changed: ['imds-labeler.io/tags'], removed: [] },
      },
    });

    // Steady state: more polls, no more lines; one line per successful patch.
    const polls = emulator.requests().byPath['/metadata/instance'] ?? 0;
    await waitFor('5 more polls', () => emulator.requests().byPath['/metadata/instance'] ?? 0, { accept: (n) => n >= polls + 5, timeoutMs: 20_000 });
    expect(applied(agent)).toHaveLength(2);
    expect(await agent.metricValue('imds_labeler_node_patches_total', { result: 'success' })).toBe(2);

    for (const line of agent.logs) {
      expect(line, JSON.stringify(line)).not.toHaveProperty('unparsed');
      expect(line).toMatchObject({ level: expect.stringMatching(/^(trace|debug|info|warn|error|fatal)$/), time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/), msg: expect.any(String) });
    }
    expect(agent.stderr()).toBe('');
  });

  it('log IMDS failures with endpoint, status, code and attempts, never quoting the body', async () => {
    agent = await start();
    await ready(agent);
    emulator.setFaults({ faults: [{ path: '/metadata/instance', status: 500 }] });
    const failed = await agent.waitForLog((l) => l.msg === 'IMDS poll failed; labels stay as they are' && (l.err as Line).status === 500);
    expect(failed).toMatchObject({ level: 'warn', err: { kind: 'http', endpoint: 'instance', status: 500, code: '500', message: expect.stringMatching(/^IMDS instance: HTTP 500/) } });
    // Retried within the 1 s budget before giving up.
    expect((failed.err as Line).attempts).toBeGreaterThanOrEqual(2);

    // Half an instance document: the message quotes the start of it, never the whole body.
    emulator.setFaults({ faults: [{ path: '/metadata/instance', malformed: true }] });
    const garbled = await agent.waitForLog((l) => l.msg === 'IMDS poll failed; labels stay as they are' && (l.err as Line).kind === 'schema');
    const message = String((garbled.err as Line).message);
    // Never a quote of the body: a garbled instance document still holds tag values.
    expect(message).toMatch(/^IMDS instance: body is not JSON \(\d+ bytes, cut short or garbled\)$/);
    expect(message.length).toBeLessThan(300);
    expect(garbled.err).toMatchObject({ endpoint: 'instance', code: 'schema', attempts: 1 });
    expect(JSON.stringify(garbled).length).toBeLessThan(600);
    expect(JSON.stringify(builtInFixture('default')).length).toBeGreaterThan(1000);
  });

  it('log Kubernetes API failures with node, status and attempt, never the Status body', async () => {
    agent = await start();
    await ready(agent);
    sandbox.setFaults({
      faults: [
        { verb: 'patch', resource: 'nodes', status: 500, times: 1 },
        { verb: 'patch', resource: 'nodes', status: 403, times: 1 },
      ],
    });
    emulator.setFixture(withTag('env', 'logs'));
    const retrying = await agent.waitForLog((l) => l.msg === 'node patch failed; retrying');
    expect(retrying).toMatchObject({ level: 'warn', node: NODE, attempt: 1, err: { kind: 'server', status: 500, message: expect.stringMatching(/^Kubernetes API answered 500/) } });
    const refused = await agent.waitForLog((l) => l.msg === 'node patch refused; waiting for the next change or resync');
    expect(refused).toMatchObject({ level: 'error', node: NODE, attempt: 2, err: { kind: 'forbidden', status: 403, message: expect.stringMatching(/^Kubernetes API answered 403/) } });
    for (const line of [retrying, refused]) expect(String((line.err as Line).message)).not.toMatch(STATUS_BODY);
    expect(applied(agent).filter((l) => JSON.stringify(l).includes('tags.imds-labeler.io/env'))).toEqual([]);
  });

  it('are readable lines with --log-format pretty', async () => {
    const proc = spawn(process.execPath, [ENTRY, 'agent', '--port', '0', '--address', '127.0.0.1', ...args('--log-format', 'pretty')], {
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    try {
      await waitFor('pretty start line', () => err, { accept: (e) => /applied label changes|imds-labeler agent started/.test(e), timeoutMs: 20_000 });
      expect(err).toMatch(new RegExp(`^\\d{2}:\\d{2}:\\d{2} info  imds-labeler agent started node=${NODE} port=\\d+ dryRun=false identity=serviceAccount$`, 'm'));
    } finally {
      proc.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    const lines = err.split('\n').filter(Boolean);
    for (const line of lines) expect(line).toMatch(/^\d{2}:\d{2}:\d{2} (trace|debug|info |warn |error|fatal) \S/);
    expect(lines.at(-1)).toMatch(/ info  stopped$/);
    // Pretty lines go to stderr; nothing else is written.
    expect(out).toBe('');
  });
});
