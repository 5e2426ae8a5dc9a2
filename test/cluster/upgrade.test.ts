/**
 * `helm upgrade` across the identity switch on a real kube-apiserver 1.37: a release installed
 * with the service-account identity, upgraded as it is (helm reuses the values given at install),
 * then upgraded to the chart's defaults (identity.mode auto, which is node on 1.36+), then rolled
 * back. What an operator must be
 * able to count on: the RBAC and the admission policy follow the mode, the node keeps its labels
 * through every step (helm never touches nodes, and no agent strips what the other wrote), and the
 * agent in the new mode still owns, updates and removes the keys the old one wrote.
 *
 * There is no kubelet, so the DaemonSet's pods are played by the shipped agent started with the
 * config file the release's ConfigMap holds at each step and a token bound to a pod on the node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import { CHART_DIR } from '../../scripts/helm.ts';
import { helm, imdsFor, installChart, Kube, releaseConfigFile, releaseState, SERVICE_ACCOUNT_IDENTITY, sharedControlPlane, startShippedAgent, tagsCompute, type ClusterAgent } from '../control-plane/cluster.ts';

const NS = 'upgrade';
const RELEASE = 'upgrade';
const NODE = 'upgrade-node';
const OWNED = 'imds-labeler.io/owned-labels';

let kube: Kube;
let serviceAccount: string;
let emulator: Awaited<ReturnType<typeof imdsFor>>;
let agent: ClusterAgent | undefined;
let rollouts = 0;

/** The release's pod, restarted as a rollout restarts it: stop the old agent, start one on the config the ConfigMap holds now. */
async function rollOut(): Promise<ClusterAgent> {
  await agent?.stop();
  const file = await releaseConfigFile(kube, NS, serviceAccount);
  agent = await startShippedAgent(kube, { node: NODE, emulator, namespace: NS, serviceAccount, pod: `agent-${NODE}-${++rollouts}`, args: ['--config', file] });
  return agent;
}

const ourLabels = async () => Object.fromEntries(Object.entries(await kube.labels(NODE)).filter(([k]) => k.includes('imds-labeler.io/')));
const labelsWith = (accept: (l: Record<string, string>) => boolean) => waitFor('the node labels', ourLabels, { accept, timeoutMs: 30_000, everyMs: 100 });

beforeAll(async () => {
  kube = new Kube(sharedControlPlane());
  ({ serviceAccount } = installChart(kube.info, RELEASE, NS, SERVICE_ACCOUNT_IDENTITY));
  await kube.createNode(NODE, { team: 'payments' });
  emulator = await imdsFor(tagsCompute({ env: 'prod', tier: 'web' }));
}, 180_000);
afterAll(async () => {
  await agent?.stop();
  await emulator?.close();
  helm(kube.info, ['uninstall', RELEASE, '-n', NS, '--no-hooks']);
});

describe('helm upgrade from the service-account identity to the defaults, and back', () => {
  let before: Record<string, string>;

  it('installed as serviceAccount: the policy is there, the agent labels its node', async () => {
    expect(await releaseState(kube, NS, serviceAccount)).toMatchObject({ identity: 'serviceAccount', policy: true });
    await rollOut();
    before = await labelsWith((l) => l['tags.imds-labeler.io/tier'] === 'web' && l['tags.imds-labeler.io/env'] === 'prod');
    expect((await kube.node(NODE)).metadata.annotations?.[OWNED]).toContain('tags.imds-labeler.io/tier');
  });

  it('a plain helm upgrade keeps serviceAccount: helm reuses the values given at install', async () => {
    const r = helm(kube.info, ['upgrade', RELEASE, CHART_DIR, '-n', NS]);
    expect(r.ok, r.stderr).toBe(true);
    expect(await releaseState(kube, NS, serviceAccount)).toMatchObject({ identity: 'serviceAccount', policy: true });
  });

  it('helm upgrade --reset-values takes the defaults and switches to node: impersonation-only RBAC, no policy; the labels stay', async () => {
    const r = helm(kube.info, ['upgrade', RELEASE, CHART_DIR, '-n', NS, '--reset-values']);
    expect(r.ok, r.stderr).toBe(true);
    const state = await releaseState(kube, NS, serviceAccount);
    expect(state).toMatchObject({ identity: 'node', policy: false });
    expect(state.verbs.length).toBeGreaterThan(0);
    expect(state.impersonationOnly).toBe(true);
    // helm changed the release, not the node.
    expect(await ourLabels()).toEqual(before);
  });

  it('the agent as its node keeps every label the service account wrote, then updates and removes them', async () => {
    await rollOut();
    emulator.setCompute(tagsCompute({ env: 'stage' }));
    const after = await labelsWith((l) => l['tags.imds-labeler.io/env'] === 'stage' && !('tags.imds-labeler.io/tier' in l));
    // The key written in the old mode was removed: the ownership record carried over.
    expect(after).toEqual(Object.fromEntries(Object.entries({ ...before, 'tags.imds-labeler.io/env': 'stage' }).filter(([k]) => k !== 'tags.imds-labeler.io/tier')));
    expect((await kube.node(NODE)).metadata.labels?.team).toBe('payments');
  });

  it('helm rollback restores the service-account identity and its policy; the agent goes on from there', async () => {
    const r = helm(kube.info, ['rollback', RELEASE, '1', '-n', NS]);
    expect(r.ok, r.stderr).toBe(true);
    expect(await releaseState(kube, NS, serviceAccount)).toMatchObject({ identity: 'serviceAccount', policy: true });
    const current = await ourLabels();
    await rollOut();
    emulator.setCompute(tagsCompute({ env: 'stage', tier: 'api' }));
    const after = await labelsWith((l) => l['tags.imds-labeler.io/tier'] === 'api');
    expect(after).toEqual({ ...current, 'tags.imds-labeler.io/tier': 'api' });
  });
});
