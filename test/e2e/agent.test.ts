import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { builtInFixture } from '../../testbed/imds-emulator/fixtures.ts';
import { startEmulator } from '../../testbed/imds-emulator/server.ts';
import { startSandbox } from '../../testbed/kube-sandbox/server.ts';
import { eventually, startAgentProcess, type AgentProcess } from '../helpers/agentProcess.ts';

type Emulator = Awaited<ReturnType<typeof startEmulator>>;
type Sandbox = Awaited<ReturnType<typeof startSandbox>>;

const NODE = 'aks-nodepool1-0';
const dir = mkdtempSync(join(tmpdir(), 'imds-labeler-e2e-'));
const kubeconfig = join(dir, 'kubeconfig');
let emulator: Emulator;
let sandbox: Sandbox;
let agent: AgentProcess | undefined;

type Doc = { compute: { tagsList: { name: string; value: string }[]; tags?: string } & Record<string, unknown> } & Record<string, unknown>;
const fixture = () => builtInFixture('default') as Doc;
const withTags = (tags: { name: string; value: string }[]): Doc => {
  const doc = fixture();
  doc.compute.tagsList = tags;
  doc.compute.tags = tags.map((t) => `${t.name}:${t.value}`).join(';');
  return doc;
};

const labels = () => ({ ...((sandbox.getNode(NODE)?.metadata?.labels ?? {}) as Record<string, string>) });
const ours = () => Object.fromEntries(Object.entries(labels()).filter(([k]) => k.includes('imds-labeler.io/')));
const start = (extra: string[] = []) =>
  startAgentProcess(['--node-name', NODE, '--kubeconfig', kubeconfig, '--imds-endpoint', emulator.url, '--poll-period', '200ms', '--poll-jitter', '0', ...extra]);
const ready = async (a: AgentProcess) => eventually(() => fetch(`http://127.0.0.1:${a.port}/readyz`).then((r) => r.status), (s) => s === 200, 20_000, 'readyz');

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, fixture: fixture() });
  sandbox = await startSandbox({ port: 0, nodes: [NODE] });
  sandbox.writeKubeconfig(kubeconfig);
});
afterAll(async () => {
  await emulator?.close();
  await sandbox?.close();
});
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  emulator.setFaults({ faults: [] });
  sandbox.setFaults({ faults: [] });
});

describe('agent end to end (real process, emulator, sandbox)', () => {
  it('labels the node from IMDS and leaves foreign labels alone', async () => {
    const node = sandbox.getNode(NODE)!;
    sandbox.putNode({ ...node, metadata: { ...node.metadata, labels: { ...node.metadata.labels, 'team.example.com/owner': 'payments' } } });
    agent = await start();
    await ready(agent);
    expect(ours()).toMatchObject({
      'imds-labeler.io/fault-domain': '0',
      'imds-labeler.io/update-domain': '0',
      'imds-labeler.io/zone': '1',
      'imds-labeler.io/region': 'westus',
      'imds-labeler.io/vm-size': 'Standard_A3',
      'imds-labeler.io/environment': 'AzurePublicCloud',
      'tags.imds-labeler.io/foo': 'bar',
      'tags.imds-labeler.io/baz': 'bash',
    });
    expect(labels()['team.example.com/owner']).toBe('payments');
    expect(labels()['kubernetes.io/hostname']).toBe(NODE);
    expect(sandbox.getNode(NODE)!.metadata.annotations!['imds-labeler.io/tags']).toBe('[{"name":"baz","value":"bash"},{"name":"foo","value":"bar"}]');
    type Event = { reason?: string; message?: string; involvedObject?: { kind?: string; name?: string } };
    // The event is sent after the patch, without holding up the loop.
    const updated = await eventually(
      () => (sandbox.listEvents() as Event[]).filter((e) => e.reason === 'LabelsUpdated' && e.involvedObject?.name === NODE),
      (events) => events.length > 0,
      10_000,
      'LabelsUpdated event',
    );
    expect(updated).toHaveLength(1);
    expect(updated[0]!.involvedObject!.kind).toBe('Node');
    expect(updated[0]!.message).toContain('added labels imds-labeler.io/environment');
  });

  it('follows a tag added, changed and removed', async () => {
    agent = await start();
    await ready(agent);
    emulator.setFixture(withTags([{ name: 'foo', value: 'bar' }, { name: 'baz', value: 'bash' }, { name: 'env', value: 'prod' }]));
    await eventually(labels, (l) => l['tags.imds-labeler.io/env'] === 'prod', 20_000, 'tag added');
    emulator.setFixture(withTags([{ name: 'foo', value: 'qux' }, { name: 'baz', value: 'bash' }, { name: 'env', value: 'prod' }]));
    await eventually(labels, (l) => l['tags.imds-labeler.io/foo'] === 'qux', 20_000, 'tag changed');
    emulator.setFixture(withTags([{ name: 'baz', value: 'bash' }]));
    const after = await eventually(labels, (l) => !('tags.imds-labeler.io/foo' in l) && !('tags.imds-labeler.io/env' in l), 20_000, 'tags removed');
    expect(after['tags.imds-labeler.io/baz']).toBe('bash');
    expect(after['team.example.com/owner']).toBe('payments');
    emulator.setFixture(fixture());
    await eventually(labels, (l) => l['tags.imds-labeler.io/foo'] === 'bar', 20_000, 'back to the fixture');
  });

  it('keeps the labels through an IMDS outage and counts the errors', async () => {
    agent = await start();
    await ready(agent);
    const before = ours();
    sandbox.resetCounters();
    emulator.setFaults({ faults: [{ path: '/metadata/instance', status: 500 }] });
    await eventually(() => agent!.metricValue('imds_labeler_imds_requests_total', { code: '500' }), (v) => (v ?? 0) >= 5, 20_000, '500s counted');
    expect(ours()).toEqual(before);
    expect(sandbox.counters().writes).toBe(0);
    emulator.setFaults({ faults: [{ path: '/metadata/instance', reset: true }] });
    await eventually(() => agent!.metricValue('imds_labeler_imds_errors_total', { code: 'reset' }), (v) => (v ?? 0) >= 2, 20_000, 'resets counted');
    expect(ours()).toEqual(before);
    emulator.setFaults({ faults: [] });
    const successes = (await agent.metricValue('imds_labeler_imds_requests_total', { code: '200' })) ?? 0;
    await eventually(() => agent!.metricValue('imds_labeler_imds_requests_total', { code: '200' }), (v) => (v ?? 0) > successes, 20_000, 'recovery');
    expect(ours()).toEqual(before);
  });

  it('converges through Kubernetes API faults: 429 with Retry-After, 500s and a 409 storm', async () => {
    // Start from a node without our labels so the agent must write through the faults.
    agent = await start();
    await ready(agent);
    await agent.stop();
    const node = sandbox.getNode(NODE)!;
    const stripped = Object.fromEntries(Object.entries(node.metadata.labels as Record<string, string>).filter(([k]) => k !== 'imds-labeler.io/zone'));
    sandbox.putNode({ ...node, metadata: { ...node.metadata, labels: stripped } });
    sandbox.setFaults({
      faults: [
        { verb: 'patch', resource: 'nodes', status: 429, times: 2, retryAfter: 1 },
        { verb: 'patch', resource: 'nodes', status: 500, times: 2 },
        { verb: 'patch', resource: 'nodes', status: 409, times: 3 },
      ],
    });
    agent = await start();
    await eventually(labels, (l) => l['imds-labeler.io/zone'] === '1', 30_000, 'zone label restored through faults');
    expect(await agent.metricValue('imds_labeler_node_patches_total', { result: 'conflict' })).toBeGreaterThanOrEqual(3);
    expect(await agent.metricValue('imds_labeler_node_patches_total', { result: 'error' })).toBeGreaterThanOrEqual(4);
  });

  it('makes no write on restart when already in sync, nor over many steady-state cycles', async () => {
    agent = await start();
    await ready(agent);
    await agent.stop();
    sandbox.resetCounters();
    emulator.resetCounters();
    agent = await start();
    await ready(agent);
    await eventually(() => emulator.requests().byPath['/metadata/instance'] ?? 0, (n) => n >= 25, 30_000, '25 polls');
    const counters = sandbox.counters();
    expect(counters.writes).toBe(0);
    expect(counters.byVerbResource['patch nodes'] ?? 0).toBe(0);
    // Reads: one list and one watch to start; nothing per poll.
    expect(counters.total).toBeLessThanOrEqual(3);
    expect(await agent.metricValue('imds_labeler_reconciles_total', { result: 'unchanged' })).toBeGreaterThanOrEqual(1);
  });

  it('restores an owned label edited by hand', async () => {
    agent = await start();
    await ready(agent);
    const node = sandbox.getNode(NODE)!;
    sandbox.putNode({ ...node, metadata: { ...node.metadata, labels: { ...node.metadata.labels, 'imds-labeler.io/zone': '3' } } });
    await eventually(labels, (l) => l['imds-labeler.io/zone'] === '1', 20_000, 'zone restored');
  });

  it('exits 0 on SIGTERM and leaves the labels in place', async () => {
    agent = await start();
    await ready(agent);
    const before = ours();
    expect(await agent.stop('SIGTERM')).toBe(0);
    agent = undefined;
    expect(ours()).toEqual(before);
  });
});

describe('agent configuration errors', () => {
  it('exits non-zero and names the field for an invalid config file', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'poll:\n  period: soon\n');
    await expect(startAgentProcess(['--config', file, '--node-name', NODE])).rejects.toThrow(/poll\.period.*not a duration/);
  });
  it('says clearly when NODE_NAME is missing', async () => {
    await expect(startAgentProcess(['--kubeconfig', kubeconfig])).rejects.toThrow(/NODE_NAME/);
  });
});
