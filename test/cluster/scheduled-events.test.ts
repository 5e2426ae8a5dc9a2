/**
 * Scheduled events, the start-up taint and the maintenance taint against a real kube-apiserver:
 * the chart installed by helm with scheduledEvents and its taint on (RBAC nodes/status, the
 * admission policy over nodes and nodes/status), the shipped agent with a pod-bound token, and
 * the emulator publishing, starting and cancelling events. Also every refusal of the policy that
 * these features touch, sent with the agent's own token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import type { NodeCondition, Taint } from '../../src/kube/types.ts';
import { imdsFor, installChart, Kube, SERVICE_ACCOUNT_IDENTITY, sharedControlPlane, startShippedAgent, type ClusterAgent } from '../control-plane/cluster.ts';

const NS = 'maint';
const NODE = 'maint-node-0';
const VM = 'examplevmname';
const PREFIX = 'imds-labeler.io';
const CONDITION = `${PREFIX}/MaintenanceScheduled`;
const STARTUP = { key: `${PREFIX}/unlabelled`, effect: 'NoSchedule' };
const MAINTENANCE = { key: `${PREFIX}/maintenance`, effect: 'NoSchedule' };
const FOREIGN = [
  { key: 'CriticalAddonsOnly', value: 'true', effect: 'NoSchedule' },
  { key: 'example.com/dedicated', value: 'db', effect: 'NoSchedule' },
];

interface FullNode {
  metadata: { resourceVersion: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { taints?: Taint[] };
  status: { conditions?: NodeCondition[]; capacity?: Record<string, string> };
}
interface Status {
  code: number;
  reason: string;
  message: string;
}

const kube = new Kube(sharedControlPlane());
let emulator: Awaited<ReturnType<typeof imdsFor>>;
let agent: ClusterAgent;
let policy: string;

const node = () => kube.ok<FullNode>('GET', `/api/v1/nodes/${NODE}`);
const taints = async () => (await node()).spec.taints ?? [];
const condition = async () => (await node()).status.conditions?.find((c) => c.type === CONDITION);
const control = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${emulator.url}/_emulator/scheduledevents${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  expect(res.status).toBeLessThan(300);
};
const reboot = (id: string) => ({
  EventId: id,
  EventType: 'Reboot',
  ResourceType: 'VirtualMachine',
  Resources: [VM],
  EventStatus: 'Scheduled',
  NotBefore: new Date(Date.now() + 15 * 60_000).toUTCString(),
  Description: 'Host maintenance',
  EventSource: 'Platform',
  DurationInSeconds: 15,
});
const asAgent = (path: string, contentType: string, body: unknown) => kube.request('PATCH', path, { token: agent.token, contentType, body });

beforeAll(async () => {
  const installed = installChart(kube.info, 'maint', NS, [...SERVICE_ACCOUNT_IDENTITY, '--set', 'config.scheduledEvents.enabled=true', '--set', 'config.scheduledEvents.taint=true']);
  policy = installed.policy;
  await kube.createNode(NODE);
  // Registered as kubelet --register-with-taints would: the start-up taint, beside others' taints.
  await kube.ok('PATCH', `/api/v1/nodes/${NODE}`, { contentType: 'application/merge-patch+json', body: { spec: { taints: [FOREIGN[0], STARTUP, FOREIGN[1]] } } });
  // The binding reaches admission through an informer: the agent starts once the policy denies,
  // so its very first patch (labels and the start-up taint removal) is judged by it.
  const probe = await kube.podBoundToken({ namespace: NS, serviceAccount: installed.serviceAccount, pod: 'policy-probe', node: NODE });
  await waitFor(
    'policy in effect',
    () => kube.request('PATCH', `/api/v1/nodes/${NODE}`, { token: probe, contentType: 'application/merge-patch+json', body: { metadata: { labels: { 'team.example.com/x': String(Date.now()) } } } }).then((r) => r.status),
    { accept: (s) => s === 403, timeoutMs: 30_000, everyMs: 200 },
  );
  emulator = await imdsFor();
  agent = await startShippedAgent(kube, {
    node: NODE,
    emulator,
    namespace: NS,
    serviceAccount: installed.serviceAccount,
    args: ['--scheduled-events', '--scheduled-events-period', '1s', '--maintenance-taint'],
  });
}, 180_000);
afterAll(async () => {
  await agent?.stop();
  await emulator?.close();
});

describe('the agent on a real API server, scheduled events and taints on', () => {
  it('removes the start-up taint once the labels are there, keeping the other taints in their order', async () => {
    const t = await waitFor('start-up taint gone', taints, { accept: (list) => !list.some((x) => x.key === STARTUP.key), timeoutMs: 30_000, everyMs: 100 });
    expect(t).toEqual(FOREIGN);
    expect((await node()).metadata.labels?.[`${PREFIX}/fault-domain`]).toBe('0');
  });

  it('writes its condition through nodes/status, beside the Ready condition', async () => {
    const c = await waitFor('condition', condition, { accept: (x) => x !== undefined, timeoutMs: 30_000, everyMs: 100 });
    expect(c).toMatchObject({ status: 'False', reason: 'NoMaintenanceScheduled' });
    // A condition new to the list goes first (strategic merge patch); Ready is untouched.
    expect((await node()).status.conditions?.map((x) => x.type)).toEqual([CONDITION, 'Ready']);
    expect((await node()).status.conditions?.find((x) => x.type === 'Ready')).toMatchObject({ status: 'True', reason: 'KubeletReady' });
  });

  it('a reboot for this VM: the condition turns True and the maintenance taint comes; cancelled, both go', async () => {
    await control('PUT', '', { Events: [reboot('r1')] });
    await waitFor('taint', taints, { accept: (list) => list.some((x) => x.key === MAINTENANCE.key), timeoutMs: 30_000, everyMs: 100 });
    expect(await taints()).toEqual([...FOREIGN, MAINTENANCE]);
    expect(await waitFor('True', condition, { accept: (x) => x?.status === 'True', timeoutMs: 30_000, everyMs: 100 })).toMatchObject({ reason: 'RebootScheduled' });
    expect(JSON.parse((await node()).metadata.annotations![`${PREFIX}/scheduled-event`]!)).toMatchObject({ eventId: 'r1', type: 'Reboot' });

    await control('DELETE', '/r1');
    await waitFor('taint gone', taints, { accept: (list) => !list.some((x) => x.key === MAINTENANCE.key), timeoutMs: 30_000, everyMs: 100 });
    expect(await taints()).toEqual(FOREIGN);
    expect(await waitFor('False', condition, { accept: (x) => x?.status === 'False', timeoutMs: 30_000, everyMs: 100 })).toMatchObject({ reason: 'NoMaintenanceScheduled' });
    expect((await node()).metadata.annotations?.[`${PREFIX}/scheduled-event`]).toBeUndefined();
  });
});

describe('the admission policy on taints and status, with the agent token', () => {
  const MERGE = 'application/merge-patch+json';
  const STRATEGIC = 'application/strategic-merge-patch+json';

  it.each([
    { what: 'removing a taint of someone else', path: `/api/v1/nodes/${NODE}`, type: MERGE, body: { spec: { taints: [FOREIGN[1]] } }, message: 'imds-labeler may change only its own taints' },
    { what: 'adding a taint of its own prefix that is not its own', path: `/api/v1/nodes/${NODE}`, type: MERGE, body: { spec: { taints: [...FOREIGN, { key: `${PREFIX}/other`, effect: 'NoSchedule' }] } }, message: 'imds-labeler may change only its own taints' },
    { what: 'adding the start-up taint back', path: `/api/v1/nodes/${NODE}`, type: MERGE, body: { spec: { taints: [...FOREIGN, STARTUP] } }, message: 'imds-labeler may change only its own taints' },
    { what: 'the maintenance taint as NoExecute', path: `/api/v1/nodes/${NODE}`, type: MERGE, body: { spec: { taints: [...FOREIGN, { ...MAINTENANCE, effect: 'NoExecute' }] } }, message: 'add (NoSchedule) or remove' },
    { what: 'cordoning the node', path: `/api/v1/nodes/${NODE}`, type: MERGE, body: { spec: { unschedulable: true } }, message: "may not change the node's spec other than its own taints; refused: unschedulable" },
    { what: 'a condition of another type (AKS\'s own)', path: `/api/v1/nodes/${NODE}/status`, type: STRATEGIC, body: { status: { conditions: [{ type: 'VMEventScheduled', status: 'True', reason: 'X', message: 'y' }] } }, message: `may change only its own node condition ${CONDITION}; refused: VMEventScheduled` },
    { what: 'the Ready condition', path: `/api/v1/nodes/${NODE}/status`, type: STRATEGIC, body: { status: { conditions: [{ type: 'Ready', status: 'False', reason: 'X', message: 'y' }] } }, message: 'refused: Ready' },
    { what: 'another status field', path: `/api/v1/nodes/${NODE}/status`, type: STRATEGIC, body: { status: { capacity: { pods: '1' } } }, message: `may not change the node's status other than its condition ${CONDITION}; refused: capacity` },
  ])('denies $what', async ({ path, type, body, message }) => {
    const before = (await node()).metadata.resourceVersion;
    const r = await asAgent(path, type, body);
    expect(r.status, r.body).toBe(403);
    const status = r.json as Status;
    expect(status).toMatchObject({ code: 403, reason: 'Forbidden' });
    expect(status.message).toContain(message);
    expect(status.message).toContain(`ValidatingAdmissionPolicy '${policy}'`);
    expect((await node()).metadata.resourceVersion).toBe(before);
  });

  it('allows what the agent does: its own condition through nodes/status, its maintenance taint on and off', async () => {
    const own = await asAgent(`/api/v1/nodes/${NODE}/status`, STRATEGIC, { status: { conditions: [{ type: CONDITION, status: 'False', reason: 'NoMaintenanceScheduled', message: 'probe' }] } });
    expect(own.status, own.body).toBe(200);
    const on = await asAgent(`/api/v1/nodes/${NODE}`, MERGE, { spec: { taints: [...FOREIGN, MAINTENANCE] } });
    expect(on.status, on.body).toBe(200);
    const off = await asAgent(`/api/v1/nodes/${NODE}`, MERGE, { spec: { taints: FOREIGN } });
    expect(off.status, off.body).toBe(200);
    // The agent puts its own message back (the probe changed what it wrote).
    await waitFor('condition restored', condition, { accept: (c) => c?.message === 'no scheduled event for this VM', timeoutMs: 30_000, everyMs: 100 });
  });

  it('RBAC: nodes/status patch is granted (test/cluster/agent.test.ts shows the default install grants none)', async () => {
    const review = await kube.ok<{ status: { allowed: boolean } }>('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      token: agent.token,
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { group: '', resource: 'nodes', subresource: 'status', verb: 'patch' } } },
    });
    expect(review.status.allowed).toBe(true);
  });
});
