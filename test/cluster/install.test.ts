/**
 * Installing as users do, on a real API server (its own control plane: the uninstall clean-up
 * touches every node): `helm install` of the chart, `kubectl apply -f deploy/` in a second
 * namespace, then `helm uninstall` with its post-delete hook, whose Job no kubelet runs; the
 * clean-up then runs as a process with that Job's service account token.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VAP_API } from '../../scripts/helm.ts';
import { at, find, render } from '../chart/chart.ts';
import { ROOT } from '../helpers/agentProcess.ts';
import { waitFor } from '../helpers/wait.ts';
import { startControlPlane, type ControlPlane } from '../control-plane/launcher.ts';
import {
  helm,
  helmAsync,
  imdsFor,
  installChart,
  SERVICE_ACCOUNT_IDENTITY,
  Kube,
  kubectl,
  pollsPass,
  printLogsOnFailure,
  runShipped,
  startShippedAgent,
  tagsCompute,
  writeKubeconfig,
  type ClusterAgent,
} from '../control-plane/cluster.ts';

let cp: ControlPlane;
let kube: Kube;
const HELM_NS = 'helm-install';
const RELEASE = 'chart';
const FULLNAME = `${RELEASE}-imds-labeler`;
const NODES = ['install-node-0', 'install-node-1'];
const emulators: Awaited<ReturnType<typeof imdsFor>>[] = [];
const agents: ClusterAgent[] = [];
printLogsOnFailure(() => cp);

interface Policy {
  metadata: { name: string };
  spec: { validations: { expression: string }[] };
  status?: { typeChecking?: { expressionWarnings?: unknown[] } };
}

const owned = async (node: string) => Object.keys(await kube.labels(node)).filter((k) => k.includes('imds-labeler.io/'));

beforeAll(async () => {
  cp = await startControlPlane();
  kube = new Kube(cp);
  for (const n of NODES) await kube.createNode(n, { 'team.example.com/owner': 'payments' });
}, 180_000);
afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await Promise.all(emulators.map((e) => e.close()));
  await cp?.stop();
});

describe('install, run and uninstall on a real API server', () => {
  it('helm install: the server accepts every object; the admission policy compiles and passes the cost check', async () => {
    installChart(cp, RELEASE, HELM_NS, SERVICE_ACCOUNT_IDENTITY);
    const status = helm(cp, ['status', RELEASE, '-n', HELM_NS, '-o', 'json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ info: { status: 'deployed' } });
    // Created at all means compiled within the cost budget: the API server rejects a policy
    // whose expressions do not compile or exceed the per-expression cost limit.
    const policy = await kube.ok<Policy>('GET', `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${FULLNAME}`);
    // Every validation of the chart's policy, none dropped or defaulted away by the server.
    const rendered = at(find(render({}, { apiVersions: [VAP_API] }), 'ValidatingAdmissionPolicy'), 'spec', 'validations') as { expression: string }[];
    expect(policy.spec.validations.map((v) => v.expression)).toEqual(rendered.map((v) => v.expression));
    expect(policy.spec.validations.length).toBeGreaterThanOrEqual(8);
    // Type-checking warnings are written by kube-controller-manager, which does not run here.
    expect(policy.status?.typeChecking?.expressionWarnings ?? []).toEqual([]);
    await kube.ok('GET', `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${FULLNAME}`);
    await kube.ok('GET', `/apis/apps/v1/namespaces/${HELM_NS}/daemonsets/${FULLNAME}`);
  });

  it('kubectl apply -f deploy/ installs beside it: no cluster-scoped name clashes with the release', async () => {
    const r = await kubectl(cp, ['apply', '-f', join(ROOT, 'deploy/imds-labeler.yaml')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('daemonset.apps/imds-labeler created');
    expect(r.stdout).toContain('validatingadmissionpolicy.admissionregistration.k8s.io/imds-labeler created');
    // Applying again writes nothing: every object keeps its resourceVersion. (kubectl still says
    // "configured" for the admission policy: its resourceRules list is atomic, and the server
    // defaults scope: "*" in it, so kubectl's three-way merge resends the list every time.)
    const versions = async () => {
      const r = await kubectl(cp, ['get', '-f', join(ROOT, 'deploy/imds-labeler.yaml'), '-o', 'json']);
      return (JSON.parse(r.stdout) as { items: { kind: string; metadata: { name: string; resourceVersion: string } }[] }).items.map((o) => `${o.kind}/${o.metadata.name}@${o.metadata.resourceVersion}`);
    };
    const before = await versions();
    expect(before).toHaveLength(8);
    const again = await kubectl(cp, ['apply', '-f', join(ROOT, 'deploy/imds-labeler.yaml')]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toContain('created');
    expect(await versions()).toEqual(before);
  });

  it('an agent of each installation labels its node with a pod-bound token', async () => {
    const installs = [
      { namespace: HELM_NS, serviceAccount: FULLNAME },
      { namespace: 'imds-labeler', serviceAccount: 'imds-labeler' },
    ];
    for (const [i, node] of NODES.entries()) {
      const emulator = await imdsFor(tagsCompute({ env: 'prod' }));
      emulators.push(emulator);
      agents.push(await startShippedAgent(kube, { node, emulator, ...installs[i]! }));
    }
    for (const node of NODES) await waitFor(`${node} labelled`, () => owned(node), { accept: (keys) => keys.includes('tags.imds-labeler.io/env'), timeoutMs: 30_000, everyMs: 100 });
    for (const a of agents) await pollsPass(a, 2);
  });

  it('helm uninstall runs the post-delete hook; the clean-up, run as the hook Job with its token, removes only owned keys', async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    const jobPath = `/apis/batch/v1/namespaces/${HELM_NS}/jobs/${FULLNAME}-cleanup`;
    const uninstall = helmAsync(cp, ['uninstall', RELEASE, '-n', HELM_NS, '--timeout', '90s']);
    // helm created the hook's ServiceAccount and RBAC, then the Job, and waits for it to complete.
    const job = await waitFor('hook Job created', () => kube.request('GET', jobPath), { accept: (r) => r.status === 200, timeoutMs: 60_000, everyMs: 100 }).then(
      (r) => r.json as { spec: { template: { spec: HookPodSpec } } },
    );
    expect((await kube.request('GET', `/apis/apps/v1/namespaces/${HELM_NS}/daemonsets/${FULLNAME}`)).status).toBe(404);
    const { serviceAccountName, containers } = job.spec.template.spec;
    expect(containers[0]!.args.slice(0, 2)).toEqual(['cleanup', '--all-nodes']);

    // No kubelet runs the Job's pod: do what it would, with the same arguments and a token of its service account.
    const review = await kube.ok<{ status: { token: string } }>('POST', `/api/v1/namespaces/${HELM_NS}/serviceaccounts/${serviceAccountName}/token`, {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } },
    });
    const args = await mountConfigMaps(job.spec.template.spec, containers[0]!.args);
    const r = await runShipped(args, { KUBECONFIG: writeKubeconfig(cp, review.status.token, 'cleanup') });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    for (const node of NODES) {
      expect(await owned(node)).toEqual([]);
      expect((await kube.labels(node))['team.example.com/owner']).toBe('payments');
      expect(Object.keys((await kube.node(node)).metadata.annotations ?? {}).filter((k) => k.includes('imds-labeler.io/'))).toEqual([]);
    }
    // The hook's token may list and patch nodes, and nothing else.
    expect((await kube.request('DELETE', `/api/v1/nodes/${NODES[0]}`, { token: review.status.token })).status).toBe(403);

    // Play the Job controller: the Job succeeded. helm then finishes and deletes the hook objects (hook-succeeded).
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const condition = (type: string) => ({ type, status: 'True', lastProbeTime: now, lastTransitionTime: now });
    await kube.ok('PATCH', `${jobPath}/status`, {
      contentType: 'application/merge-patch+json',
      body: { status: { startTime: now, completionTime: now, succeeded: 1, conditions: [condition('SuccessCriteriaMet'), condition('Complete')] } },
    });
    const done = await uninstall;
    expect(done.code, done.stderr).toBe(0);
    for (const path of [jobPath, `/api/v1/namespaces/${HELM_NS}/serviceaccounts/${serviceAccountName}`, `/apis/rbac.authorization.k8s.io/v1/clusterroles/${FULLNAME}-cleanup`]) {
      await waitFor(`${path} deleted`, () => kube.request('GET', path).then((x) => x.status), { accept: (s) => s === 404, timeoutMs: 30_000, everyMs: 200 });
    }
    expect(helm(cp, ['status', RELEASE, '-n', HELM_NS]).ok).toBe(false);
  });
});

interface HookPodSpec {
  serviceAccountName: string;
  containers: { args: string[]; volumeMounts?: { name: string; mountPath: string }[] }[];
  volumes?: { name: string; configMap?: { name: string } }[];
}

/**
 * What the kubelet would do for the hook's pod: each ConfigMap volume, read back from the API
 * server (helm created it as a hook object), becomes a folder; arguments under its mount path
 * point into that folder instead.
 */
async function mountConfigMaps(spec: HookPodSpec, args: string[]): Promise<string[]> {
  let mapped = args;
  for (const mount of spec.containers[0]!.volumeMounts ?? []) {
    const source = spec.volumes?.find((v) => v.name === mount.name)?.configMap;
    expect(source, `volume ${mount.name} is a ConfigMap`).toBeDefined();
    const map = await kube.ok<{ data: Record<string, string> }>('GET', `/api/v1/namespaces/${HELM_NS}/configmaps/${source!.name}`);
    const dir = mkdtempSync(join(tmpdir(), 'imds-labeler-hook-volume-'));
    for (const [file, content] of Object.entries(map.data)) writeFileSync(join(dir, file), content);
    mapped = mapped.map((a) => (a.startsWith(`${mount.mountPath}/`) ? join(dir, a.slice(mount.mountPath.length + 1)) : a));
  }
  return mapped;
}
