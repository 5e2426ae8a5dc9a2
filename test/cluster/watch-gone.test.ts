/**
 * A real 410 Gone for the agent's watch, from etcd: the agent watches its own node; writes to
 * another node move etcd's revision past the agent's resourceVersion; etcd is compacted to the
 * current revision (through its JSON gRPC gateway, no etcdctl); when the agent's watch times out
 * and it watches again from its resourceVersion, the API server answers 410 and the agent lists.
 *
 * Why this control plane runs without the watch cache (--watch-cache=false): with the cache the
 * API server serves watches from memory, so compaction alone never reaches the agent; and an API
 * server restart breaks the watch with a connection error, after which the agent lists anyway
 * (tested in faults.test.ts). With the cache, a 410 needs the agent's resourceVersion to fall out
 * of the cache's event window, which the window's dynamic sizing makes impractical to force.
 */
import { Buffer } from 'node:buffer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import { etcdRequest, startControlPlane, type ControlPlane } from '../control-plane/launcher.ts';
import { imdsFor, installChart, SERVICE_ACCOUNT_IDENTITY, Kube, pollsPass, printLogsOnFailure, startShippedAgent, tagsCompute, type ClusterAgent } from '../control-plane/cluster.ts';

let cp: ControlPlane;
let kube: Kube;
let emulator: Awaited<ReturnType<typeof imdsFor>>;
let agent: ClusterAgent;
const NODE = 'gone-node-0';
const OTHER = 'gone-node-1';
const ENV = 'tags.imds-labeler.io/env';
printLogsOnFailure(() => cp);

/** The agent's own count of watches that ended in 410 Gone. */
const gone = async () => (await agent.metricValue('imds_labeler_watch_restarts_total', { reason: 'gone' })) ?? 0;
const lists = () => kube.requestTotal('LIST', 'nodes');
/** etcd's current revision, from its JSON gRPC gateway. */
const etcdRevision = async () => {
  const r = await etcdRequest(cp.etcdUrl, '/v3/kv/range', { key: Buffer.from('/registry/').toString('base64'), limit: 1 });
  return Number((r.json as { header: { revision: string } }).header.revision);
};

beforeAll(async () => {
  cp = await startControlPlane({ apiserverFlags: ['--watch-cache=false'] });
  kube = new Kube(cp);
  const { serviceAccount } = installChart(cp, 'gone', 'gone', SERVICE_ACCOUNT_IDENTITY);
  await kube.createNode(NODE);
  await kube.createNode(OTHER);
  emulator = await imdsFor(tagsCompute({ env: 'prod' }));
  // A short server-side watch timeout, so the agent watches again from its resourceVersion soon.
  agent = await startShippedAgent(kube, { node: NODE, emulator, namespace: 'gone', serviceAccount, args: ['--watch-timeout', '3s'] });
  await waitFor('first sync', () => kube.labels(NODE), { accept: (l) => l[ENV] === 'prod', timeoutMs: 60_000, everyMs: 100 });
}, 180_000);
afterAll(async () => {
  await agent?.stop();
  await emulator?.close();
  await cp?.stop();
});

describe('etcd compaction: a real 410 on the agent watch', () => {
  it('is answered 410, and the agent lists again, loses nothing and writes nothing', async () => {
    await pollsPass(agent, 2);
    expect(await gone()).toBe(0);
    const patchesBefore = await kube.requestTotal('PATCH', 'nodes');
    for (let i = 0; i < 5; i++) await kube.ok('PATCH', `/api/v1/nodes/${OTHER}`, { contentType: 'application/merge-patch+json', body: { metadata: { labels: { 'example.com/i': String(i) } } } });
    const listsBefore = await lists();
    const compacted = await etcdRequest(cp.etcdUrl, '/v3/kv/compaction', { revision: String(await etcdRevision()), physical: true });
    expect(compacted.status, compacted.body).toBe(200);

    await waitFor('a watch that ended in 410', gone, { accept: (n) => n >= 1, timeoutMs: 60_000, everyMs: 200 });
    expect(agent.logs.some((l) => l.msg === 'node watch resourceVersion expired (410); listing again')).toBe(true);
    await waitFor('the re-list, seen by the API server', lists, { accept: (n) => n > listsBefore, timeoutMs: 30_000, everyMs: 200 });
    // Five patches were the test's own; the agent wrote nothing through the 410.
    await pollsPass(agent, 5);
    expect(await kube.requestTotal('PATCH', 'nodes')).toBe(patchesBefore + 5);

    // The watch works after the re-list: a tag change still makes exactly one patch.
    emulator.setCompute(tagsCompute({ env: 'after-410' }));
    await waitFor('label after 410', () => kube.labels(NODE), { accept: (l) => l[ENV] === 'after-410', timeoutMs: 30_000, everyMs: 100 });
    await pollsPass(agent, 5);
    expect(await kube.requestTotal('PATCH', 'nodes')).toBe(patchesBefore + 6);
  });
});
