/**
 * The older Kubernetes releases still supported (scripts/kube-versions.txt after the first), each
 * on a control plane of its own: the chart installed as users install it (identity.mode auto,
 * which the server's version resolves), the shipped agent with the chart's config and a pod-bound
 * token labelling its node, one PATCH per change and none in steady state (the server's own
 * counts), and its node being the only one it may change, refused by whatever guards that mode:
 * the admission policy for the service account, the Node authorizer and NodeRestriction for the
 * node identity. The current release runs the whole tier on the shared control plane.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import { imdsFor, installChart, Kube, pollsPass, printLogsOnFailure, releaseConfigFile, releaseState, startShippedAgent, tagsCompute, type ClusterAgent } from '../control-plane/cluster.ts';
import { KUBE_VERSIONS, startControlPlane, type ControlPlane } from '../control-plane/launcher.ts';

const NS = 'versions';
const NODE = 'versions-node-a';
const OTHER = 'versions-node-b';

/** What the chart's auto resolves to on a release (docs/install.md): node from 1.36 on. */
const expectedIdentity = (version: string) => (Number(/^v1\.(\d+)\./.exec(version)![1]) >= 36 ? 'node' : 'serviceAccount');

describe.each(KUBE_VERSIONS.slice(1).map((version) => ({ version, identity: expectedIdentity(version) })))('Kubernetes $version (identity.mode auto is $identity)', ({ version, identity }) => {
  let cp: ControlPlane | undefined;
  let kube: Kube;
  let serviceAccount: string;
  let emulator: Awaited<ReturnType<typeof imdsFor>>;
  let agent: ClusterAgent | undefined;
  printLogsOnFailure(() => cp);

  beforeAll(async () => {
    cp = await startControlPlane({ kubeVersion: version });
    kube = new Kube(cp);
    ({ serviceAccount } = installChart(cp, 'versions', NS));
    await kube.createNode(NODE);
    await kube.createNode(OTHER);
    emulator = await imdsFor(tagsCompute({ env: 'prod' }));
  }, 240_000);
  afterAll(async () => {
    await agent?.stop();
    await emulator?.close();
    await cp?.stop();
  });

  it('is the release it was built as', async () => {
    expect((await kube.ok<{ gitVersion: string }>('GET', '/version')).gitVersion).toBe(version);
  });

  it(`the chart resolves auto to ${identity}, with its RBAC and, for the service account, its admission policy`, async () => {
    const state = await releaseState(kube, NS, serviceAccount);
    expect(state.identity).toBe(identity);
    expect(state.impersonationOnly).toBe(identity === 'node');
    expect(state.policy).toBe(identity !== 'node');
  });

  it('the shipped agent labels its node with the chart config; one PATCH per change, none in steady state', async () => {
    const file = await releaseConfigFile(kube, NS, serviceAccount);
    agent = await startShippedAgent(kube, { node: NODE, emulator, namespace: NS, serviceAccount, args: ['--config', file] });
    const labels = await waitFor('labels on the node', () => kube.labels(NODE), { accept: (l) => l['tags.imds-labeler.io/env'] === 'prod', timeoutMs: 30_000, everyMs: 100 });
    expect(labels).toMatchObject({ 'imds-labeler.io/fault-domain': '0', 'imds-labeler.io/region': 'westus' });

    const steady = await kube.requestTotal('PATCH', 'nodes');
    await pollsPass(agent, 5);
    expect(await kube.requestTotal('PATCH', 'nodes')).toBe(steady);
    emulator.setCompute(tagsCompute({ env: 'stage' }));
    await waitFor('the changed tag', () => kube.labels(NODE), { accept: (l) => l['tags.imds-labeler.io/env'] === 'stage', timeoutMs: 30_000, everyMs: 100 });
    await pollsPass(agent, 3);
    expect(await kube.requestTotal('PATCH', 'nodes')).toBe(steady + 1);
    expect(Object.keys(await kube.labels(OTHER)).filter((k) => k.includes('imds-labeler.io/'))).toEqual([]);
  });

  it('its credentials may change its own node, and are refused another node', async () => {
    const token = agent!.token;
    const headers: Record<string, string> = identity === 'node' ? { 'Impersonate-User': `system:node:${NODE}` } : {};
    const patch = (node: string) =>
      kube.request('PATCH', `/api/v1/nodes/${node}`, { token, headers, contentType: 'application/merge-patch+json', body: { metadata: { annotations: { 'imds-labeler.io/probe': version } } } });
    expect((await patch(NODE)).status).toBe(200);
    const refused = await patch(OTHER);
    expect(refused.status, refused.body).toBe(403);
    expect((refused.json as { message: string }).message).toContain(identity === 'node' ? `node "${NODE}" is not allowed to modify node "${OTHER}"` : `imds-labeler on node ${NODE} may not change node ${OTHER}`);
  });
});
