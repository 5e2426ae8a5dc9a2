/**
 * identity node on a real kube-apiserver 1.37: the chart installed by helm (identity.mode auto,
 * which the server's version resolves to node), pod-bound service account tokens, and the API
 * server's own constrained impersonation, Node authorizer and NodeRestriction deciding. Each
 * refusal is paired with the same request where the protection it relies on is missing (plain
 * impersonate granted; a second control plane without the ConstrainedImpersonation gate and
 * without NodeRestriction), so none of them could pass for another reason.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import { imdsFor, installChart, Kube, printLogsOnFailure, releaseState, sharedControlPlane, startShippedAgent, tagsCompute, type ClusterAgent } from '../control-plane/cluster.ts';
import { startControlPlane, type ControlPlane, type ApiResponse } from '../control-plane/launcher.ts';

const NS = 'identity';
const A = 'identity-node-a';
const B = 'identity-node-b';
const asUser = (node: string) => `system:node:${node}`;

interface Status {
  code: number;
  reason: string;
  message: string;
}

/** What NodeRestriction refuses node A, with its message; the last describe sends each without NodeRestriction. */
const NODE_RESTRICTIONS = [
  { what: 'patch node B', node: B, body: { metadata: { labels: { 'imds-labeler.io/zone': '9' } } }, message: `node "${A}" is not allowed to modify node "${B}"` },
  { what: 'set a kubernetes.io label outside the kubelet set', node: A, body: { metadata: { labels: { 'node-role.kubernetes.io/infra': '' } } }, message: 'is not allowed to modify labels: node-role.kubernetes.io/infra' },
  { what: 'set a node-restriction.kubernetes.io label', node: A, body: { metadata: { labels: { 'node-restriction.kubernetes.io/pool': 'gpu' } } }, message: 'is not allowed to modify labels: node-restriction.kubernetes.io/pool' },
  { what: 'add a taint', node: A, body: { spec: { taints: [{ key: 'imds-labeler.io/t', effect: 'NoSchedule' }] } }, message: `node "${A}" is not allowed to modify taints` },
];

let kube: Kube;
let serviceAccount: string;
let emulator: Awaited<ReturnType<typeof imdsFor>>;
let agent: ClusterAgent;
const agents: ClusterAgent[] = [];

const merge = 'application/merge-patch+json';
/** A request with `token`, as `user` (Impersonate-User) unless null, plus any other impersonation headers. */
const call = (k: Kube, token: string, user: string | null, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> =>
  k.request(method, path, { token, body, contentType: method === 'PATCH' ? merge : 'application/json', headers: { ...(user ? { 'Impersonate-User': user } : {}), ...headers } });
const refused = (r: ApiResponse) => {
  expect(r.status, r.body).toBe(403);
  return (r.json as Status).message;
};

beforeAll(async () => {
  kube = new Kube(sharedControlPlane());
  ({ serviceAccount } = installChart(kube.info, 'identity', NS));
  await kube.createNode(A);
  await kube.createNode(B);
  emulator = await imdsFor(tagsCompute({ env: 'prod' }));
  agent = await startShippedAgent(kube, { node: A, emulator, namespace: NS, serviceAccount, args: ['--identity', 'node'] });
  agents.push(agent);
}, 180_000);
afterAll(async () => {
  for (const a of agents) await a.stop();
  await emulator?.close();
});

describe('the chart on a 1.37 API server (identity.mode auto)', () => {
  it('resolves to node: the ClusterRole holds only associated-node impersonation, and no admission policy is installed', async () => {
    expect(await releaseState(kube, NS, serviceAccount)).toMatchObject({ identity: 'node', impersonationOnly: true, policy: false });
  });
});

describe('the shipped agent as its node', () => {
  it('labels its node end to end, and records an Event', async () => {
    const labels = await waitFor('labels on node A', () => kube.labels(A), { accept: (l) => l['tags.imds-labeler.io/env'] === 'prod', timeoutMs: 30_000, everyMs: 100 });
    expect(labels).toMatchObject({ 'imds-labeler.io/fault-domain': '0', 'imds-labeler.io/region': 'westus' });
    expect(Object.keys(await kube.labels(B)).filter((k) => k.includes('imds-labeler.io/'))).toEqual([]);
    const events = await waitFor(
      'an Event about node A',
      async () => (await kube.ok<{ items: { involvedObject: { name: string }; reason: string }[] }>('GET', '/api/v1/namespaces/default/events')).items.filter((e) => e.involvedObject.name === A),
      { accept: (e) => e.length > 0, timeoutMs: 30_000, everyMs: 200 },
    );
    expect(events[0]!.reason).toBe('LabelsUpdated');
  });

  it('could not have done so as its service account, which may not touch a node itself', async () => {
    for (const [method, path] of [
      ['PATCH', `/api/v1/nodes/${A}`],
      ['GET', `/api/v1/nodes?fieldSelector=metadata.name%3D${A}`],
    ] as const) {
      const message = refused(await call(kube, agent.token, null, method, path, method === 'PATCH' ? { metadata: { labels: { 'imds-labeler.io/x': '1' } } } : undefined));
      expect(message).toContain(`User "system:serviceaccount:${NS}:${serviceAccount}" cannot`);
    }
  });

  it('a node impersonated by its user name alone gets the group system:nodes from the API server', async () => {
    // The agent may not ask for a review (not in its ClusterRole): the admin asks, impersonating as the agent does.
    const review = await call(kube, kube.info.adminToken, asUser(A), 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
    expect(review.status, review.body).toBe(201);
    expect((review.json as { status: { userInfo: unknown } }).status.userInfo).toEqual({ username: asUser(A), groups: ['system:nodes', 'system:authenticated'] });
  });
});

describe('a pod-bound token for node A, acting as node A', () => {
  const patchA = (body: unknown) => call(kube, agent.token, asUser(A), 'PATCH', `/api/v1/nodes/${A}`, body);

  it('may patch node A: labels outside kubernetes.io and k8s.io, the well-known ones, any annotation', async () => {
    for (const body of [
      { metadata: { labels: { 'imds-labeler.io/probe': 'x', 'topology.kubernetes.io/zone': 'westus-1' } } },
      { metadata: { annotations: { 'example.com/note': 'x' } } },
      { metadata: { labels: { 'imds-labeler.io/probe': null, 'topology.kubernetes.io/zone': null }, annotations: { 'example.com/note': null } } },
    ]) {
      const r = await patchA(body);
      expect(r.status, r.body).toBe(200);
    }
  });

  it('may read node A only: a list of every node and a read of node B are refused by the Node authorizer', async () => {
    expect((await call(kube, agent.token, asUser(A), 'GET', `/api/v1/nodes?fieldSelector=metadata.name%3D${A}`)).status).toBe(200);
    expect(refused(await call(kube, agent.token, asUser(A), 'GET', '/api/v1/nodes'))).toContain(`node '${A}' cannot read all nodes, only its own Node object`);
    expect(refused(await call(kube, agent.token, asUser(A), 'GET', `/api/v1/nodes?fieldSelector=metadata.name%3D${B}`))).toContain(`node '${A}' cannot read '${B}', only its own Node object`);
  });

  it('may do nothing else the node could: read secrets, delete its node, patch its status', async () => {
    expect(refused(await call(kube, agent.token, asUser(A), 'GET', `/api/v1/namespaces/${NS}/secrets`))).toContain('cannot impersonate-on:associated-node:list resource "secrets"');
    expect(refused(await call(kube, agent.token, asUser(A), 'DELETE', `/api/v1/nodes/${A}`))).toContain('cannot impersonate-on:associated-node:delete resource "nodes"');
    expect(refused(await call(kube, agent.token, asUser(A), 'PATCH', `/api/v1/nodes/${A}/status`, { status: {} }))).toContain('cannot impersonate-on:associated-node:patch resource "nodes/status"');
  });

  it.each(NODE_RESTRICTIONS)('NodeRestriction refuses it to $what', async ({ node, body, message }) => {
    const rv = (await kube.node(node)).metadata.resourceVersion;
    expect(refused(await call(kube, agent.token, asUser(A), 'PATCH', `/api/v1/nodes/${node}`, body))).toContain(message);
    expect((await kube.node(node)).metadata.resourceVersion).toBe(rv);
  });

  it('may not act as node B: only the node its pod is bound to', async () => {
    const message = refused(await call(kube, agent.token, asUser(B), 'PATCH', `/api/v1/nodes/${B}`, { metadata: { labels: { 'imds-labeler.io/zone': '9' } } }));
    expect(message).toContain(`User "system:serviceaccount:${NS}:${serviceAccount}" cannot impersonate-on:arbitrary-node:patch resource "nodes"`);
  });

  it('may not name a group, even system:nodes: the associated-node mode takes the user name alone (so the agent sends only that)', async () => {
    const message = refused(await call(kube, agent.token, asUser(A), 'PATCH', `/api/v1/nodes/${A}`, { metadata: { labels: { 'imds-labeler.io/probe': 'x' } } }, { 'Impersonate-Group': 'system:nodes' }));
    expect(message).toContain('cannot impersonate resource "users"');
  });

  it('a token of the same service account that is not bound to a pod cannot act as any node', async () => {
    const review = await kube.ok<{ status: { token: string } }>('POST', `/api/v1/namespaces/${NS}/serviceaccounts/${serviceAccount}/token`, {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } },
    });
    const message = refused(await call(kube, review.status.token, asUser(A), 'GET', `/api/v1/nodes?fieldSelector=metadata.name%3D${A}`));
    expect(message).toContain('cannot impersonate-on:arbitrary-node:list resource "nodes"');
  });

  it('control: a service account granted plain impersonate may act as node B, so the refusal above is the associated-node constraint', async () => {
    const wide = 'wide-impersonator';
    await kube.ensure(`/api/v1/namespaces/${NS}/serviceaccounts`, { metadata: { name: wide } });
    await kube.ensure('/apis/rbac.authorization.k8s.io/v1/clusterroles', { metadata: { name: wide }, rules: [{ apiGroups: [''], resources: ['users', 'groups'], verbs: ['impersonate'] }] });
    await kube.ensure('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      metadata: { name: wide },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: wide },
      subjects: [{ kind: 'ServiceAccount', name: wide, namespace: NS }],
    });
    const token = await kube.podBoundToken({ namespace: NS, serviceAccount: wide, pod: 'wide-on-a', node: A });
    const body = { metadata: { labels: { 'imds-labeler.io/control': 'x' } } };
    const r = await waitFor('the binding in effect', () => call(kube, token, asUser(B), 'PATCH', `/api/v1/nodes/${B}`, body, { 'Impersonate-Group': 'system:nodes' }), { accept: (x) => x.status !== 403, timeoutMs: 10_000, everyMs: 200 });
    expect(r.status, r.body).toBe(200);
    expect((await kube.labels(B))['imds-labeler.io/control']).toBe('x');
    await kube.ok('PATCH', `/api/v1/nodes/${B}`, { contentType: merge, body: { metadata: { labels: { 'imds-labeler.io/control': null } } } });
  });
});

describe('a service account without the node-identity RBAC', () => {
  it('the agent says the API server refused the impersonation and what to do, and is neither live nor ready', async () => {
    await kube.ensure(`/api/v1/namespaces/${NS}/serviceaccounts`, { metadata: { name: 'bare' } });
    const bare = await startShippedAgent(kube, { node: A, emulator, namespace: NS, serviceAccount: 'bare', pod: 'bare-agent-a', args: ['--identity', 'node'] });
    agents.push(bare);
    const line = await bare.waitForLog((l) => l.msg === 'node list failed', 30_000);
    const message = (line.err as { message: string }).message;
    expect(message).toContain(`403 Forbidden: nodes "${A}" is forbidden: User "system:serviceaccount:${NS}:bare" cannot impersonate-on:associated-node:list resource "nodes"`);
    expect(message).toContain('kube.identity is node, and acting as the node needs Kubernetes 1.36+ with the ConstrainedImpersonation feature gate on');
    for (const path of ['/healthz', '/readyz']) {
      const r = await fetch(`http://127.0.0.1:${bare.port}${path}`);
      expect(r.status).toBe(503);
      expect(await r.text()).toContain(`the API server refuses to let this service account act as ${asUser(A)} (kube.identity node)`);
    }
  });
});

describe('without the protections: a control plane without the ConstrainedImpersonation gate and without NodeRestriction', () => {
  let bare: ControlPlane;
  let other: Kube;
  let sa: string;
  printLogsOnFailure(() => bare);
  beforeAll(async () => {
    bare = await startControlPlane({ apiserverFlags: ['--feature-gates=ConstrainedImpersonation=false'], admissionPlugins: [] });
    other = new Kube(bare);
    ({ serviceAccount: sa } = installChart(other.info, 'identity', NS, ['--set', 'identity.mode=node']));
    await other.createNode(A);
    await other.createNode(B);
  }, 180_000);
  afterAll(async () => {
    await bare?.stop();
  });

  it('as on a cluster before 1.36: the chart\'s RBAC cannot act as the node, and the agent says what to do', async () => {
    const a = await startShippedAgent(other, { node: A, emulator, namespace: NS, serviceAccount: sa, args: ['--identity', 'node'] });
    agents.push(a);
    const line = await a.waitForLog((l) => l.msg === 'node list failed', 30_000);
    const message = (line.err as { message: string }).message;
    expect(message).toContain(`403 Forbidden: users "${asUser(A)}" is forbidden: User "system:serviceaccount:${NS}:${sa}" cannot impersonate resource "users" in API group ""`);
    expect(message).toContain('on an older cluster set identity.mode (kube.identity) to serviceAccount');
    expect((await fetch(`http://127.0.0.1:${a.port}/healthz`)).status).toBe(503);
  });

  it.each(NODE_RESTRICTIONS)('control: without NodeRestriction, node A may $what', async ({ node, body }) => {
    // The admin (system:masters) may impersonate anyone: node A as its kubelet is, user and group.
    const r = await call(other, bare.adminToken, asUser(A), 'PATCH', `/api/v1/nodes/${node}`, body, { 'Impersonate-Group': 'system:nodes' });
    expect(r.status, r.body).toBe(200);
  });
});
