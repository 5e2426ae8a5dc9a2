/**
 * What real-cluster tests do against a control plane: API calls, KWOK-style nodes, pods bound to
 * a node with their service account token, the shipped agent per node, and the API server's own
 * request counters. No kubelet and no controller manager run: tests create pods (and the default
 * service account) themselves.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, inject, type TestContext } from 'vitest';
import { CHART_DIR, HELM, KUBECTL, requireTool, runHelm, type HelmResult } from '../../scripts/helm.ts';
import { builtInFixture } from '../../testbed/imds-emulator/fixtures.ts';
import { startEmulator, type Emulator } from '../../testbed/imds-emulator/server.ts';
import { imageNodeOptions } from '../helpers/bundledAgent.ts';
import { startAgentProcess, type AgentProcess } from '../helpers/agentProcess.ts';
import { waitFor } from '../helpers/wait.ts';
import { apiRequest, kubeconfigFor, logTail, type ApiResponse, type Component, type ControlPlaneInfo, type RequestOptions } from './launcher.ts';

export type { ControlPlaneInfo } from './launcher.ts';

/**
 * The run's shared control plane (from globalSetup). A failing test prints where the
 * component logs are and their last lines.
 */
export function sharedControlPlane(): ControlPlaneInfo {
  const info = inject('controlPlane');
  printLogsOnFailure(() => info);
  return info;
}

/** Registers an afterEach that prints the control plane's log paths and tails when a test failed. */
export function printLogsOnFailure(current: () => ControlPlaneInfo | undefined): void {
  afterEach((ctx: TestContext) => {
    const info = current();
    if (!info || ctx.task.result?.state !== 'fail') return;
    for (const c of Object.keys(info.logs) as Component[]) console.error(`--- ${c} log (${info.logs[c]}):\n${logTail(info, c, 30)}`);
  });
}

export class Kube {
  readonly info: ControlPlaneInfo;
  constructor(info: ControlPlaneInfo) {
    this.info = info;
  }

  request(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    return apiRequest(this.info, method, path, options);
  }

  /** The request, which must succeed (2xx); resolves with the parsed body. */
  async ok<T = Record<string, unknown>>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const r = await this.request(method, path, options);
    if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path}: ${r.status} ${r.body.slice(0, 1000)}`);
    return r.json as T;
  }

  /** Creates the object, or leaves the existing one (409 AlreadyExists). */
  async ensure(path: string, object: unknown): Promise<void> {
    const r = await this.request('POST', path, { body: object });
    if (r.status !== 201 && r.status !== 409) throw new Error(`POST ${path}: ${r.status} ${r.body.slice(0, 1000)}`);
  }

  node(name: string): Promise<KubeNode> {
    return this.ok<KubeNode>('GET', `/api/v1/nodes/${name}`);
  }

  async labels(name: string): Promise<Record<string, string>> {
    return (await this.node(name)).metadata.labels ?? {};
  }

  /**
   * A node as KWOK registers one: capacity and allocatable, Ready, and without the not-ready
   * taint that admission (TaintNodesByCondition) puts on every new node and that only the node
   * lifecycle controller would remove.
   */
  async createNode(name: string, labels: Record<string, string> = {}): Promise<void> {
    const resources = { cpu: '8', memory: '32Gi', pods: '110' };
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await this.ok('POST', '/api/v1/nodes', {
      body: { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', ...labels } } },
    });
    await this.ok('PATCH', `/api/v1/nodes/${name}/status`, {
      contentType: 'application/merge-patch+json',
      body: {
        status: {
          capacity: resources,
          allocatable: resources,
          conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'test node', lastHeartbeatTime: now, lastTransitionTime: now }],
          nodeInfo: { kubeletVersion: 'v1.37.2', architecture: 'amd64', operatingSystem: 'linux' },
        },
      },
    });
    await this.ok('PATCH', `/api/v1/nodes/${name}`, { contentType: 'application/merge-patch+json', body: { spec: { taints: null } } });
  }

  /** A namespace with its default service account (no controller manager creates one). */
  async createNamespace(name: string): Promise<void> {
    await this.ensure('/api/v1/namespaces', { metadata: { name } });
    await this.ensure(`/api/v1/namespaces/${name}/serviceaccounts`, { metadata: { name: 'default' } });
  }

  /**
   * A pod on `node` (spec.nodeName: no scheduling, and no kubelet runs it) and a token for its
   * service account bound to that pod, so the API server adds authentication.kubernetes.io/node-name.
   */
  async podBoundToken(o: { namespace: string; serviceAccount: string; pod: string; node: string }): Promise<string> {
    const pod = await this.ok<{ metadata: { uid: string } }>('POST', `/api/v1/namespaces/${o.namespace}/pods`, {
      body: {
        metadata: { name: o.pod, labels: { app: 'imds-labeler-agent' } },
        spec: { nodeName: o.node, serviceAccountName: o.serviceAccount, automountServiceAccountToken: false, containers: [{ name: 'agent', image: 'imds-labeler:test' }] },
      },
    });
    const review = await this.ok<{ status: { token: string } }>('POST', `/api/v1/namespaces/${o.namespace}/serviceaccounts/${o.serviceAccount}/token`, {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: o.pod, uid: pod.metadata.uid } } },
    });
    return review.status.token;
  }

  /** Sum of the API server's apiserver_request_total for a verb (PATCH, LIST, WATCH...) and resource. */
  async requestTotal(verb: string, resource: string): Promise<number> {
    const text = (await this.request('GET', '/metrics')).body;
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith('apiserver_request_total{')) continue;
      if (line.includes(`verb="${verb}"`) && line.includes(`resource="${resource}"`) && !line.includes('subresource="status"')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }
}

export interface KubeNode {
  metadata: { name: string; resourceVersion: string; labels?: Record<string, string>; annotations?: Record<string, string>; finalizers?: string[] };
  spec?: Record<string, unknown>;
}

export interface ClusterAgent extends AgentProcess {
  node: string;
  token: string;
  kubeconfig: string;
}

/**
 * The agent as it ships (the esbuild bundle under the image's NODE_OPTIONS) for one node, with a
 * pod-bound token of `serviceAccount`, reading `emulator` as its IMDS.
 */
export async function startShippedAgent(
  kube: Kube,
  o: { node: string; emulator: Emulator; namespace: string; serviceAccount: string; pod?: string; args?: string[] },
): Promise<ClusterAgent> {
  const distDir = inject('distDir');
  const token = await kube.podBoundToken({ namespace: o.namespace, serviceAccount: o.serviceAccount, pod: o.pod ?? `agent-${o.node}`, node: o.node });
  const kubeconfig = writeKubeconfig(kube.info, token, 'agent');
  const agent = await startAgentProcess(
    ['--node-name', o.node, '--kubeconfig', kubeconfig, '--imds-endpoint', o.emulator.url, '--poll-period', '300ms', '--poll-jitter', '0', ...(o.args ?? [])],
    { NODE_ENV: 'production' },
    { entry: join(distDir, 'imds-labeler.mjs'), nodeOptions: imageNodeOptions(distDir) },
  );
  return Object.assign(agent, { node: o.node, token, kubeconfig });
}

/** helm against the control plane, as the admin; never throws for a non-zero exit. */
export function helm(info: ControlPlaneInfo, args: string[], values?: unknown): HelmResult {
  return runHelm([...args, '--kubeconfig', adminKubeconfig(info)], values);
}

/** helm as a background process (for commands that wait on the cluster, such as hooks). */
export function helmAsync(info: ControlPlaneInfo, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(requireTool(HELM), [...args, '--kubeconfig', adminKubeconfig(info)], {
    PATH: process.env.PATH ?? '',
    // Without HOME, helm's Kubernetes client keeps its discovery cache in ./.kube of the working directory.
    HOME: info.dir,
    HELM_CONFIG_HOME: join(info.dir, 'helm', 'config'),
    HELM_CACHE_HOME: join(info.dir, 'helm', 'cache'),
    HELM_DATA_HOME: join(info.dir, 'helm', 'data'),
  });
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, input?: string, timeout = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = execFile(file, args, { env, timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** kubectl 1.35 against the control plane, as the admin unless a kubeconfig is given. */
export function kubectl(info: ControlPlaneInfo, args: string[], o: { input?: string; kubeconfig?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(requireTool(KUBECTL), ['--kubeconfig', o.kubeconfig ?? adminKubeconfig(info), ...args], { PATH: process.env.PATH ?? '', HOME: info.dir }, o.input, 60_000);
}

export const adminKubeconfig = (info: ControlPlaneInfo) => join(info.dir, 'admin.kubeconfig');

/**
 * helm arguments for the service account identity and its admission policy: on this 1.37 server
 * identity.mode auto picks node, so the files that test the policy, or run agents with the
 * default kube.identity, ask for serviceAccount.
 */
export const SERVICE_ACCOUNT_IDENTITY = ['--set', 'identity.mode=serviceAccount'];

/** The chart installed as users install it; the release's ServiceAccount is `<release>-imds-labeler`. */
export function installChart(info: ControlPlaneInfo, release: string, namespace: string, args: string[] = []): { serviceAccount: string; policy: string } {
  const r = helm(info, ['install', release, CHART_DIR, '-n', namespace, '--create-namespace', ...args]);
  if (!r.ok) throw new Error(`helm install ${release}: ${r.stderr}`);
  const fullname = release.includes('imds-labeler') ? release : `${release}-imds-labeler`;
  return { serviceAccount: fullname, policy: fullname };
}

/** What a release has installed now: its config's kube.identity, its ClusterRole's verbs, whether its admission policy exists. */
export interface ReleaseState {
  identity: string;
  verbs: string[];
  /** There are verbs, and every one is associated-node impersonation: the node identity's RBAC. */
  impersonationOnly: boolean;
  policy: boolean;
}

export async function releaseState(kube: Kube, namespace: string, fullname: string): Promise<ReleaseState> {
  const config = JSON.parse(await releaseConfig(kube, namespace, fullname)) as { kube: { identity: string } };
  const role = await kube.ok<{ rules: { verbs: string[] }[] }>('GET', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${fullname}`);
  const policy = await kube.request('GET', `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${fullname}`);
  const verbs = role.rules.flatMap((r) => r.verbs);
  return {
    identity: config.kube.identity,
    verbs,
    impersonationOnly: verbs.length > 0 && verbs.every((v) => v.startsWith('impersonate:associated-node') || v.startsWith('impersonate-on:associated-node:')),
    policy: policy.status === 200,
  };
}

/** The release's config.json, as its ConfigMap holds it now. */
async function releaseConfig(kube: Kube, namespace: string, fullname: string): Promise<string> {
  return (await kube.ok<{ data: Record<string, string> }>('GET', `/api/v1/namespaces/${namespace}/configmaps/${fullname}`)).data['config.json']!;
}

/** The release's config.json in a fresh temporary file, for an agent's --config (the pod's mounted ConfigMap). */
export async function releaseConfigFile(kube: Kube, namespace: string, fullname: string): Promise<string> {
  const file = join(mkdtempSync(join(tmpdir(), 'imds-labeler-release-config-')), 'config.json');
  writeFileSync(file, await releaseConfig(kube, namespace, fullname));
  return file;
}

/** An IMDS emulator serving the default fixture with `compute` overrides; `setCompute` changes them. */
export async function imdsFor(compute: Record<string, unknown> = {}): Promise<Emulator & { setCompute(compute: Record<string, unknown>): void }> {
  const base = builtInFixture('default') as { compute: Record<string, unknown> };
  const document = (c: Record<string, unknown>) => ({ ...base, compute: { ...base.compute, ...c } });
  const emulator = await startEmulator({ port: 0, fixture: document(compute), rateLimitPerSecond: 0 });
  return Object.assign(emulator, { setCompute: (c: Record<string, unknown>) => emulator.setFixture(document(c)) });
}

/** compute.tagsList and the legacy compute.tags for the given tags. */
export const tagsCompute = (tags: Record<string, string>) => ({
  tagsList: Object.entries(tags).map(([name, value]) => ({ name, value })),
  tags: Object.entries(tags).map(([n, v]) => `${n}:${v}`).join(';'),
});

/** Sum of every series of an agent metric (all label values). */
export async function agentMetricTotal(agent: AgentProcess, name: string): Promise<number> {
  let sum = 0;
  for (const line of (await agent.metrics()).split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (m?.[1] === name) sum += Number(m[3]);
  }
  return sum;
}

/** Waits until the agent has polled IMDS `polls` more times (its own counter); asserts no time. */
export async function pollsPass(agent: AgentProcess, polls: number): Promise<void> {
  const count = () => agentMetricTotal(agent, 'imds_labeler_imds_requests_total');
  const start = await count();
  await waitFor(`${polls} IMDS polls of ${agent.proc.pid}`, count, { accept: (n) => n >= start + polls, timeoutMs: 60_000, everyMs: 100 });
}

/** One run of the shipped bundle (`imds-labeler <args>`) under the image's node options. */
export function runShipped(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const distDir = inject('distDir');
  return run(process.execPath, [...imageNodeOptions(distDir), join(distDir, 'imds-labeler.mjs'), ...args], { PATH: process.env.PATH, NODE_ENV: 'production', ...env }, undefined, 60_000);
}

/** A kubeconfig file for `token`, in a fresh temporary directory. */
export function writeKubeconfig(info: ControlPlaneInfo, token: string, user = 'user'): string {
  const path = join(mkdtempSync(join(tmpdir(), 'imds-labeler-kubeconfig-')), 'kubeconfig');
  writeFileSync(path, kubeconfigFor(info, token, user), { mode: 0o600 });
  return path;
}
