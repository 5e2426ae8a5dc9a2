/**
 * Faults on the real thing, on a control plane of this file's own (it restarts kube-apiserver
 * and stops etcd): nothing the agent should write is lost, nothing anyone else wrote is lost, and
 * there is no write storm after recovery, counted by the API server (apiserver_request_total).
 * The 410 Gone path is in watch-gone.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, waitFor } from '../helpers/wait.ts';
import { startControlPlane, type ControlPlane } from '../control-plane/launcher.ts';
import {
  imdsFor,
  installChart,
  SERVICE_ACCOUNT_IDENTITY,
  Kube,
  kubectl,
  pollsPass,
  printLogsOnFailure,
  startShippedAgent,
  tagsCompute,
  type ClusterAgent,
} from '../control-plane/cluster.ts';

let cp: ControlPlane;
let kube: Kube;
let emulator: Awaited<ReturnType<typeof imdsFor>>;
let agent: ClusterAgent;
const NODE = 'fault-node-0';
const OTHER = 'fault-node-1';
const ENV = 'tags.imds-labeler.io/env';
printLogsOnFailure(() => cp);

const labels = () => kube.labels(NODE);
const setEnv = (env: string) => emulator.setCompute(tagsCompute({ env }));
const envIs = (env: string, timeoutMs = 60_000) => waitFor(`${ENV}=${env}`, labels, { accept: (l) => l[ENV] === env, timeoutMs: timeoutMs, everyMs: 200 });
/** PATCHes of nodes since this API server process started, by its own count. */
const patches = () => kube.requestTotal('PATCH', 'nodes');
beforeAll(async () => {
  cp = await startControlPlane();
  kube = new Kube(cp);
  const { serviceAccount } = installChart(cp, 'faults', 'faults', SERVICE_ACCOUNT_IDENTITY);
  await kube.createNode(NODE, { 'team.example.com/owner': 'payments' });
  await kube.createNode(OTHER);
  emulator = await imdsFor(tagsCompute({ env: 'prod' }));
  agent = await startShippedAgent(kube, { node: NODE, emulator, namespace: 'faults', serviceAccount, args: ['--watch-timeout', '5s'] });
  await envIs('prod');
}, 180_000);
afterAll(async () => {
  await agent?.stop();
  await emulator?.close();
  await cp?.stop();
});

describe('faults on a real control plane', () => {
  it('kube-apiserver restarted mid-run, with a tag change while it is down: one write after, then none', async () => {
    await cp.stopComponent('kube-apiserver');
    setEnv('during-restart');
    await pollsPass(agent, 3);
    await cp.startComponent('kube-apiserver');
    await envIs('during-restart');
    const after = await patches();
    await pollsPass(agent, 10);
    expect(await patches()).toEqual(after);
    // Counted from the new process's start: the catch-up is one successful PATCH, not a storm.
    expect(after).toBeGreaterThanOrEqual(1);
    expect(after).toBeLessThanOrEqual(3);
    expect((await labels())['team.example.com/owner']).toBe('payments');
  });

  it('etcd stopped for 30 s with a tag change meanwhile: the label arrives after, without a write storm', async () => {
    const before = await patches();
    await cp.stopComponent('etcd');
    setEnv('during-etcd-outage');
    await sleep(30_000);
    await cp.startComponent('etcd');
    await envIs('during-etcd-outage', 120_000);
    await pollsPass(agent, 10);
    const after = await patches();
    expect(after - before).toBeGreaterThanOrEqual(1);
    expect(after - before).toBeLessThanOrEqual(10);
    await pollsPass(agent, 10);
    expect(await patches()).toEqual(after);
    expect((await labels())['team.example.com/owner']).toBe('payments');
  });

  it('kubectl label on the same node, concurrent with the agent: nobody loses a write', async () => {
    setEnv('concurrent');
    const results = await Promise.all([0, 1, 2, 3, 4].map((i) => kubectl(cp, ['label', 'node', NODE, `team.example.com/k${i}=v${i}`])));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    await envIs('concurrent');
    expect(await labels()).toMatchObject({ 'team.example.com/k0': 'v0', 'team.example.com/k1': 'v1', 'team.example.com/k2': 'v2', 'team.example.com/k3': 'v3', 'team.example.com/k4': 'v4', 'team.example.com/owner': 'payments' });
    // An owned key changed by hand is restored to the IMDS value (documented behaviour).
    expect((await kubectl(cp, ['label', 'node', NODE, `${ENV}=by-hand`, '--overwrite'])).code).toBe(0);
    await envIs('concurrent');
    const after = await patches();
    await pollsPass(agent, 10);
    expect(await patches()).toEqual(after);
  });
});
