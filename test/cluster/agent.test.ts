/**
 * The shipped agent against a real kube-apiserver, with the chart's RBAC and admission policy
 * installed by helm, and a pod-bound service account token per node. Writes are counted by the
 * API server itself (apiserver_request_total), not by the agent. The file has a control plane of
 * its own: that counter is per server, and other files patch nodes on the shared one meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import { imdsFor, pollsPass as pollsPassOf, installChart, SERVICE_ACCOUNT_IDENTITY, Kube, startShippedAgent, tagsCompute, type ClusterAgent } from '../control-plane/cluster.ts';
import { startControlPlane, type ControlPlane } from '../control-plane/launcher.ts';

const NS = 'agents';
const NODE = 'agent-node-0';
const OTHER = 'agent-node-1';
let cp: ControlPlane;
let kube: Kube;
let emulator: Awaited<ReturnType<typeof imdsFor>>;
let agent: ClusterAgent;
let serviceAccount: string;

const ours = async (node = NODE) => Object.fromEntries(Object.entries(await kube.labels(node)).filter(([k]) => k.includes('imds-labeler.io/')));
const pollsPass = (polls: number) => pollsPassOf(agent, polls);

beforeAll(async () => {
  cp = await startControlPlane();
  kube = new Kube(cp);
  ({ serviceAccount } = installChart(kube.info, 'agents', NS, SERVICE_ACCOUNT_IDENTITY));
  await kube.createNode(NODE, { 'team.example.com/owner': 'payments' });
  await kube.createNode(OTHER);
  emulator = await imdsFor(tagsCompute({ env: 'prod', team: 'blue' }));
  agent = await startShippedAgent(kube, { node: NODE, emulator, namespace: NS, serviceAccount });
}, 180_000);
afterAll(async () => {
  await agent?.stop();
  await emulator?.close();
  await cp?.stop();
});

describe('the shipped agent on a real API server', () => {
  it('labels its node from IMDS and leaves foreign labels alone', async () => {
    const labels = await waitFor('labels', ours, { accept: (l) => l['imds-labeler.io/fault-domain'] !== undefined, timeoutMs: 30_000, everyMs: 100 });
    expect(labels).toMatchObject({
      'imds-labeler.io/fault-domain': '0',
      'imds-labeler.io/update-domain': '0',
      'imds-labeler.io/zone': '1',
      'imds-labeler.io/region': 'westus',
      'imds-labeler.io/environment': 'AzurePublicCloud',
      'tags.imds-labeler.io/env': 'prod',
      'tags.imds-labeler.io/team': 'blue',
    });
    expect((await kube.labels(NODE))['team.example.com/owner']).toBe('payments');
    expect(await ours(OTHER)).toEqual({});
  });

  it('its token is pod-bound: the API server sees the node name in it', async () => {
    const review = await kube.ok<{ status: { userInfo: { username: string; extra?: Record<string, string[]> } } }>('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      token: agent.token,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    expect(review.status.userInfo.username).toBe(`system:serviceaccount:${NS}:${serviceAccount}`);
    expect(review.status.userInfo.extra?.['authentication.kubernetes.io/node-name']).toEqual([NODE]);
  });

  it('steady state: zero PATCHes of nodes, counted by the API server; a tag change makes exactly one', async () => {
    await waitFor('first sync', ours, { accept: (l) => l['tags.imds-labeler.io/env'] === 'prod', timeoutMs: 30_000, everyMs: 100 });
    await pollsPass(2);
    const before = await kube.requestTotal('PATCH', 'nodes');
    await pollsPass(10);
    expect(await kube.requestTotal('PATCH', 'nodes')).toBe(before);

    emulator.setCompute(tagsCompute({ env: 'staging', team: 'blue' }));
    await waitFor('tag change', ours, { accept: (l) => l['tags.imds-labeler.io/env'] === 'staging', timeoutMs: 30_000, everyMs: 100 });
    await pollsPass(10);
    expect(await kube.requestTotal('PATCH', 'nodes')).toBe(before + 1);
  });
});

interface Status {
  kind: string;
  code: number;
  reason: string;
  message: string;
}

describe('the admission policy, enforced by the API server, with the agent token', () => {
  const prefixes = 'imds-labeler.io/ and tags.imds-labeler.io/';
  const patch = (node: string, body: unknown) => kube.request('PATCH', `/api/v1/nodes/${node}`, { token: agent.token, contentType: 'application/merge-patch+json', body });

  // The binding reaches the API server's admission through an informer: wait until it denies.
  beforeAll(async () => {
    await waitFor('policy in effect', () => patch(OTHER, { metadata: { labels: { 'imds-labeler.io/x': '1' } } }).then((r) => r.status), { accept: (s) => s === 403 || s === 422, timeoutMs: 30_000, everyMs: 200 });
  });

  it.each([
    { what: 'another node', node: OTHER, body: { metadata: { labels: { 'imds-labeler.io/zone': '9' } } }, message: `imds-labeler on node ${NODE} may not change node ${OTHER}` },
    {
      what: 'a label outside its prefixes',
      node: NODE,
      body: { metadata: { labels: { 'team.example.com/owner': 'me' } } },
      message: `imds-labeler may change only labels under ${prefixes}; refused: team.example.com/owner`,
    },
    {
      what: 'an annotation outside its prefixes',
      node: NODE,
      body: { metadata: { annotations: { 'example.com/note': 'x' } } },
      message: `imds-labeler may change only annotations under ${prefixes}; refused: example.com/note`,
    },
    { what: 'a taint', node: NODE, body: { spec: { taints: [{ key: 'imds-labeler.io/t', effect: 'NoSchedule' }] } }, message: 'imds-labeler may change only its own taints: remove imds-labeler.io/unlabelled or imds-labeler.io/maintenance' },
    { what: 'the maintenance taint, its option off', node: NODE, body: { spec: { taints: [{ key: 'imds-labeler.io/maintenance', effect: 'NoSchedule' }] } }, message: 'imds-labeler may change only its own taints' },
    { what: 'the spec', node: NODE, body: { spec: { unschedulable: true } }, message: "imds-labeler may not change the node's spec other than its own taints; refused: unschedulable" },
    { what: 'a finalizer', node: NODE, body: { metadata: { finalizers: ['imds-labeler.io/keep'] } }, message: "imds-labeler may not change the node's finalizers or owner references" },
  ])('denies $what with the policy message', async ({ node, body, message }) => {
    const rv = (await kube.node(node)).metadata.resourceVersion;
    const r = await patch(node, body);
    expect(r.status).toBe(403);
    const status = r.json as Status;
    expect(status).toMatchObject({ kind: 'Status', code: 403, reason: 'Forbidden' });
    expect(status.message).toContain(message);
    expect(status.message).toContain(`ValidatingAdmissionPolicy '${serviceAccount}'`);
    expect((await kube.node(node)).metadata.resourceVersion).toBe(rv);
  });

  it('allows its own patch: own node, own prefix', async () => {
    const r = await patch(NODE, { metadata: { labels: { 'imds-labeler.io/probe': 'x' } } });
    expect(r.status, r.body).toBe(200);
    expect((await patch(NODE, { metadata: { labels: { 'imds-labeler.io/probe': null } } })).status).toBe(200);
  });

  it('does not match other users: the admin may still change the taints', async () => {
    const r = await kube.request('PATCH', `/api/v1/nodes/${OTHER}`, { contentType: 'application/merge-patch+json', body: { metadata: { labels: { 'team.example.com/x': '1' } } } });
    expect(r.status, r.body).toBe(200);
  });
});

describe('RBAC: the agent may do what the ClusterRole grants and nothing else', () => {
  const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];
  const GRANTED: Record<string, string[]> = { 'nodes': ['get', 'list', 'watch', 'patch'], '/events': ['create', 'patch'], 'events.k8s.io/events': ['create', 'patch'] };
  const RESOURCES = [
    { group: '', resource: 'nodes', key: 'nodes' },
    { group: '', resource: 'nodes', subresource: 'status', key: 'nodes/status' },
    { group: '', resource: 'events', namespace: 'default', key: '/events' },
    { group: 'events.k8s.io', resource: 'events', namespace: 'default', key: 'events.k8s.io/events' },
    { group: '', resource: 'pods', namespace: NS, key: 'pods' },
    { group: '', resource: 'secrets', namespace: NS, key: 'secrets' },
    { group: '', resource: 'configmaps', namespace: NS, key: 'configmaps' },
    { group: 'admissionregistration.k8s.io', resource: 'validatingadmissionpolicies', key: 'validatingadmissionpolicies' },
    { group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', key: 'clusterrolebindings' },
  ];
  const table = RESOURCES.flatMap((r) => VERBS.map((verb) => ({ ...r, verb, allowed: (GRANTED[r.key] ?? []).includes(verb) })));

  it.each(table)('$verb $key: allowed=$allowed', async ({ group, resource, subresource, namespace, verb, allowed }) => {
    const review = await kube.ok<{ status: { allowed: boolean } }>('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      token: agent.token,
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { group, resource, subresource, namespace, verb } } },
    });
    expect(review.status.allowed).toBe(allowed);
  });

  it.each([
    { what: 'delete its node', method: 'DELETE', path: `/api/v1/nodes/${NODE}` },
    { what: 'patch its node status', method: 'PATCH', path: `/api/v1/nodes/${NODE}/status`, body: { status: { capacity: { pods: '1' } } } },
    { what: 'list pods', method: 'GET', path: `/api/v1/namespaces/${NS}/pods` },
    { what: 'read secrets', method: 'GET', path: `/api/v1/namespaces/${NS}/secrets` },
  ])('is refused for real: $what', async ({ method, path, body }) => {
    const r = await kube.request(method, path, { token: agent.token, body, contentType: 'application/merge-patch+json' });
    expect(r.status).toBe(403);
    expect((r.json as Status).message).toContain(`User "system:serviceaccount:${NS}:${serviceAccount}" cannot`);
  });
});
