/**
 * kube-scheduler consumes the labels: six nodes, each with its own IMDS (fault domains 0-2,
 * update domains 0-5, zones 1 and 2), six shipped agents, then pods whose placement depends only
 * on the labels the agents wrote. Where the scheduler bound each pod is read from spec.nodeName.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import { imdsFor, installChart, Kube, sharedControlPlane, startShippedAgent, tagsCompute, type ClusterAgent } from '../control-plane/cluster.ts';

const NS = 'sched';
const PODS = 'sched-pods';
const kube = new Kube(sharedControlPlane());
const FD = 'imds-labeler.io/fault-domain';
const UD = 'imds-labeler.io/update-domain';
const POOL = 'tags.imds-labeler.io/pool';

// node i: fault domain i % 3, update domain i, zone 1 for 0-2 and 2 for 3-5, pool gpu for 0-1.
const NODES = [0, 1, 2, 3, 4, 5].map((i) => ({
  name: `sched-node-${i}`,
  compute: { platformFaultDomain: String(i % 3), platformUpdateDomain: String(i), zone: i < 3 ? '1' : '2', ...tagsCompute({ pool: i < 2 ? 'gpu' : 'general' }) },
}));
/** A node in the same pool selection that no agent labels: DoNotSchedule must leave it out. */
const UNLABELLED = 'sched-node-unlabelled';
const emulators: Awaited<ReturnType<typeof imdsFor>>[] = [];
const agents: ClusterAgent[] = [];

interface Pod {
  metadata: { name: string };
  spec: { nodeName?: string };
  status?: { conditions?: { type: string; status: string; reason?: string }[] };
}

let serial = 0;
/** Creates a pod (only on this test's nodes) and waits until the scheduler bound it; returns the node. */
async function schedule(app: string, spec: Record<string, unknown>): Promise<string> {
  const name = `${app}-${serial++}`;
  await kube.ok('POST', `/api/v1/namespaces/${PODS}/pods`, {
    body: {
      metadata: { name, labels: { app } },
      spec: { nodeSelector: { 'sched-test': 'yes' }, automountServiceAccountToken: false, containers: [{ name: 'c', image: 'registry.invalid/app:1' }], ...spec },
    },
  });
  const pod = await waitFor(`pod ${name} bound`, () => kube.ok<Pod>('GET', `/api/v1/namespaces/${PODS}/pods/${name}`), { accept: (p) => p.spec.nodeName !== undefined, timeoutMs: 60_000, everyMs: 100 });
  return pod.spec.nodeName!;
}

const spread = (key: string, app: string) => ({ topologySpreadConstraints: [{ maxSkew: 1, topologyKey: key, whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app } } }] });
const requireLabel = (key: string, value: string) => ({
  affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key, operator: 'In', values: [value] }] }] } } },
});
const labelOf = async (node: string, key: string) => (await kube.labels(node))[key];
const countBy = (values: (string | undefined)[]) => values.reduce<Record<string, number>>((acc, v) => ({ ...acc, [String(v)]: (acc[String(v)] ?? 0) + 1 }), {});

beforeAll(async () => {
  const { serviceAccount } = installChart(kube.info, 'sched', NS);
  await kube.createNamespace(PODS);
  await kube.createNode(UNLABELLED, { 'sched-test': 'yes' });
  for (const n of NODES) {
    await kube.createNode(n.name, { 'sched-test': 'yes' });
    const emulator = await imdsFor(n.compute);
    emulators.push(emulator);
    // identity.mode auto is node on this 1.37 server: each agent acts as its own node.
    agents.push(await startShippedAgent(kube, { node: n.name, emulator, namespace: NS, serviceAccount, args: ['--identity', 'node'] }));
  }
  // Waits on the update domain only, so a missing fault-domain label fails the tests below, not the set-up.
  for (const n of NODES) await waitFor(`${n.name} labelled`, () => labelOf(n.name, UD), { accept: (v) => v === n.compute.platformUpdateDomain, timeoutMs: 30_000, everyMs: 100 });
});
afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await Promise.all(emulators.map((e) => e.close()));
});

describe('kube-scheduler places pods by the agent labels', () => {
  it('six agents labelled six nodes with their own fault and update domains and zones', async () => {
    const rows = await Promise.all(NODES.map(async (n) => [n.name, await labelOf(n.name, FD), await labelOf(n.name, UD), await labelOf(n.name, 'imds-labeler.io/zone')]));
    expect(rows).toEqual(NODES.map((n) => [n.name, n.compute.platformFaultDomain, n.compute.platformUpdateDomain, n.compute.zone]));
    expect(await labelOf(UNLABELLED, FD)).toBeUndefined();
  });

  it('spreads across fault domains (maxSkew 1, DoNotSchedule): 6 pods, 2 per fault domain, none on the unlabelled node', async () => {
    const placed: string[] = [];
    for (let i = 0; i < 6; i++) placed.push(await schedule('web-fd', spread(FD, 'web-fd')));
    expect(placed).not.toContain(UNLABELLED);
    expect(countBy(await Promise.all(placed.map((n) => labelOf(n, FD))))).toEqual({ 0: 2, 1: 2, 2: 2 });
  });

  it('spreads across update domains: 6 pods, one per update domain', async () => {
    const placed: string[] = [];
    for (let i = 0; i < 6; i++) placed.push(await schedule('web-ud', spread(UD, 'web-ud')));
    expect(placed).not.toContain(UNLABELLED);
    expect(countBy(await Promise.all(placed.map((n) => labelOf(n, UD))))).toEqual({ 0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1 });
  });

  it('node affinity on a VM tag label: gpu pods land only on the gpu pool', async () => {
    const placed: string[] = [];
    for (let i = 0; i < 4; i++) placed.push(await schedule('gpu', requireLabel(POOL, 'gpu')));
    expect(new Set(placed)).toEqual(new Set(['sched-node-0', 'sched-node-1']));
  });

  it('a VM tag change in IMDS moves the label, and a pending pod follows it to the node', async () => {
    const name = `special-${serial++}`;
    await kube.ok('POST', `/api/v1/namespaces/${PODS}/pods`, {
      body: {
        metadata: { name, labels: { app: 'special' } },
        spec: { automountServiceAccountToken: false, containers: [{ name: 'c', image: 'registry.invalid/app:1' }], ...requireLabel(POOL, 'special') },
      },
    });
    // No node has the tag yet: the scheduler says so and leaves the pod pending.
    const pending = await waitFor('pod reported unschedulable', () => kube.ok<Pod>('GET', `/api/v1/namespaces/${PODS}/pods/${name}`), { accept: (p) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable') ?? false, timeoutMs: 60_000, everyMs: 100 });
    expect(pending.spec.nodeName).toBeUndefined();

    emulators[4]!.setCompute({ ...NODES[4]!.compute, ...tagsCompute({ pool: 'special' }) });
    await waitFor('tag label follows IMDS', () => labelOf('sched-node-4', POOL), { accept: (v) => v === 'special', timeoutMs: 30_000, everyMs: 100 });
    const bound = await waitFor('pending pod bound', () => kube.ok<Pod>('GET', `/api/v1/namespaces/${PODS}/pods/${name}`), { accept: (p) => p.spec.nodeName !== undefined, timeoutMs: 60_000, everyMs: 100 });
    expect(bound.spec.nodeName).toBe('sched-node-4');
    expect(await schedule('special', requireLabel(POOL, 'special'))).toBe('sched-node-4');
  });
});
