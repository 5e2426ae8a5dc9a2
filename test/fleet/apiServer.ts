/**
 * The API server under test of the fleet benchmark and the fleet cluster test: the sandbox (a
 * process of its own) or a real control plane (kube-apiserver and etcd from
 * test/control-plane/launcher.ts). Both give the agents a kubeconfig, count the requests they
 * receive by verb, resource and (real only) response code, have an outage, and say which
 * processes are theirs; the fleet code above them is one code path.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Clock } from '../../src/clock.ts';
import type { CounterSnapshot } from '../../testbed/kube-sandbox/server.ts';
import { seedNode } from '../../testbed/kube-sandbox/nodes.ts';
import { apiRequest, startControlPlane, type Component, type ControlPlane } from '../control-plane/launcher.ts';
import { cpuSeconds, memory } from '../helpers/proc.ts';
import { startSandboxProcess } from './sandboxProcess.ts';
import { fixed } from '../helpers/stats.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Request counts keyed `VERB resource code`, as kube-apiserver's apiserver_request_total labels
 * them: verb PATCH, LIST, WATCH, POST...; resource `nodes`, `nodes/status`, `events`; code `200`,
 * or `-` where the server does not say (the sandbox).
 */
export type RequestCounts = Record<string, number>;

export interface ApiServerUnderTest {
  /** What it is, for the report. */
  readonly description: string;
  /** For the agents: the admin's credentials (one identity for the whole fleet). */
  readonly kubeconfig: string;
  /** How often the benchmark may read `counts()` without loading the server much (wall ms). */
  readonly countsEveryMs: number;
  /** Requests on nodes and events since the start, summed over restarts. */
  counts(): Promise<RequestCounts>;
  /**
   * Takes the server away for at least `agentMs` of agent time, calls `down` once it is away,
   * and resolves when it answers again: with what the outage was and when (agent time) the server
   * accepted connections again.
   */
  outage(agentMs: number, clock: Clock & { factor: number }, down: () => void): Promise<Outage>;
  /** CPU seconds of each of the server's processes since the start, summed over restarts. */
  cpuSeconds(): Record<string, number>;
  /** Peak resident memory of each of the server's processes, MiB. */
  peakMemoryMiB(): Record<string, number>;
  stop(): Promise<void>;
}

export interface Outage {
  description: string;
  /** Agent time the server accepted connections again (it may answer errors a while longer). */
  back: number;
}

export type ApiServerKind = 'sandbox' | 'real';

const SANDBOX_VERBS: Record<string, string> = { get: 'GET', list: 'LIST', watch: 'WATCH', create: 'POST', update: 'PUT', patch: 'PATCH', delete: 'DELETE', deletecollection: 'DELETECOLLECTION' };

/** The sandbox's counters (`patch nodes/status`) as request counts (`PATCH nodes/status -`). */
export function sandboxCounts(snapshot: CounterSnapshot): RequestCounts {
  const out: RequestCounts = {};
  for (const [key, n] of Object.entries(snapshot.byVerbResource)) {
    const [verb = '', resource = ''] = key.split(' ');
    out[`${SANDBOX_VERBS[verb] ?? verb.toUpperCase()} ${resource} -`] = n;
  }
  return out;
}

const SERIES = /^apiserver_request_total\{([^}]*)\}\s+(\S+)/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** apiserver_request_total from a /metrics text, for the given resources (core group and others). */
export function requestTotals(metrics: string, resources: readonly string[] = ['nodes', 'events']): RequestCounts {
  const out: RequestCounts = {};
  for (const line of metrics.split('\n')) {
    const m = SERIES.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of m[1]!.matchAll(LABEL)) labels[k!] = v!;
    if (!resources.includes(labels.resource ?? '')) continue;
    const group = labels.group ? `.${labels.group}` : '';
    const resource = `${labels.resource}${group}${labels.subresource ? `/${labels.subresource}` : ''}`;
    const key = `${labels.verb} ${resource} ${labels.code ?? '-'}`;
    out[key] = (out[key] ?? 0) + Number(m[2]);
  }
  return out;
}

/** b − a, key by key (keys only in b count from 0). */
export function countsSince(a: RequestCounts, b: RequestCounts): RequestCounts {
  const out: RequestCounts = {};
  for (const [k, n] of Object.entries(b)) if (n - (a[k] ?? 0) !== 0) out[k] = n - (a[k] ?? 0);
  return out;
}

const add = (a: RequestCounts, b: RequestCounts): RequestCounts => {
  const out = { ...a };
  for (const [k, n] of Object.entries(b)) out[k] = (out[k] ?? 0) + n;
  return out;
};

/** The API server under test of `kind`, with `names` registered as nodes. */
export async function startApiServer(kind: ApiServerKind, names: string[]): Promise<ApiServerUnderTest> {
  return kind === 'real' ? startRealApiServer(names) : startSandboxApiServer(names);
}

export async function startSandboxApiServer(names: string[]): Promise<ApiServerUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), 'imds-labeler-fleet-'));
  const sandbox = await startSandboxProcess({ nodes: names, dir });
  let peak = 0;
  return {
    description: 'the sandbox API server (testbed/kube-sandbox) in a process of its own',
    kubeconfig: sandbox.kubeconfig,
    countsEveryMs: 250,
    counts: async () => sandboxCounts(await sandbox.counters()),
    async outage(agentMs, clock, down) {
      // The sandbox drops every open connection (each watch ends with an error) and stops listening.
      await sandbox.setFaults({ refuse: { forMs: Math.round(agentMs / clock.factor), mode: 'close' } });
      down();
      await clock.sleep(agentMs);
      return { description: `the sandbox refused connections for ${agentMs / 1000} s of agent time (its listener closed, open watches dropped)`, back: clock.now() };
    },
    cpuSeconds: () => ({ sandbox: cpuSeconds(sandbox.pid) }),
    peakMemoryMiB: () => {
      peak = Math.max(peak, memory(sandbox.pid).peakMiB);
      return { sandbox: peak };
    },
    async stop() {
      await sandbox.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** How many node creations are in flight at once while seeding. */
const SEED_CONCURRENCY = 16;
const MEASURED: readonly Component[] = ['kube-apiserver', 'etcd'];

/**
 * A real control plane (etcd, kube-apiserver, kube-scheduler) with `names` registered as a
 * kubelet registers its node: created, then its status written. Its counts are the API server's
 * own apiserver_request_total, read from /metrics with the admin token.
 */
export async function startRealApiServer(names: string[]): Promise<ApiServerUnderTest> {
  const cp: ControlPlane = await startControlPlane();
  try {
    await seedNodes(cp, names);
  } catch (err) {
    await cp.stop();
    throw err;
  }
  const port = Number(new URL(cp.url).port);
  const scrape = async () => {
    const r = await apiRequest(cp, 'GET', '/metrics');
    if (r.status !== 200) throw new Error(`kube-apiserver /metrics: ${r.status} ${r.body.slice(0, 200)}`);
    return requestTotals(r.body);
  };
  // What earlier kube-apiserver processes counted (their last reading), and their CPU time.
  let carried: RequestCounts = {};
  const carriedCpu: Record<string, number> = {};
  const peaks: Record<string, number> = {};
  const cpuNow = (c: Component) => {
    const pid = cp.pid(c);
    return pid === undefined ? 0 : cpuSeconds(pid);
  };
  const sampleMemory = () => {
    for (const c of MEASURED) {
      const pid = cp.pid(c);
      if (pid !== undefined) peaks[c] = Math.max(peaks[c] ?? 0, memory(pid).peakMiB);
    }
  };
  return {
    description: `a real control plane: kube-apiserver, etcd and kube-scheduler (${cp.binDir.split('/').pop()}), test/control-plane/launcher.ts`,
    kubeconfig: join(cp.dir, 'admin.kubeconfig'),
    // /metrics is about 2 MB of text: some 80 ms of the API server's CPU a read.
    countsEveryMs: 2000,
    counts: async () => add(carried, await scrape()),
    async outage(agentMs, clock, down) {
      sampleMemory();
      // The counters die with the process: keep its last reading (requests between this read and
      // the stop, and the watches it ends on the way down, are not counted).
      carried = add(carried, await scrape());
      carriedCpu['kube-apiserver'] = (carriedCpu['kube-apiserver'] ?? 0) + cpuNow('kube-apiserver');
      const sigterm = clock.now();
      // It stops listening at once; open watches hold the process until the launcher kills it (15 s).
      let exit = Infinity;
      const exited = cp.stopComponent('kube-apiserver').then(() => void (exit = clock.now()));
      await waitFor('kube-apiserver to stop listening', () => refused(port), { timeoutMs: 30_000, everyMs: 20 });
      const t0 = clock.now();
      down();
      await clock.sleep(agentMs);
      await exited;
      const restart = clock.now();
      const ready = cp.startComponent('kube-apiserver');
      await waitFor('kube-apiserver to listen', async () => !(await refused(port)), { timeoutMs: 120_000, everyMs: 20 });
      const back = clock.now();
      await ready;
      const s = (ms: number) => `${fixed(ms / 1000)} s`;
      return {
        description: `SIGTERM to kube-apiserver: listening no more after ${s(t0 - sigterm)}, exited after ${s(exit - sigterm)} (open watches hold it until the launcher kills it, 15 s of wall time); started again on the same port over the same etcd ${s(restart - t0)} after it stopped listening, listening ${s(back - restart)} later, ready ${s(clock.now() - back)} after that (agent time)`,
        back,
      };
    },
    cpuSeconds: () => Object.fromEntries(MEASURED.map((c) => [c, (carriedCpu[c] ?? 0) + cpuNow(c)])),
    peakMemoryMiB: () => {
      sampleMemory();
      return { ...peaks };
    },
    stop: () => cp.stop(),
  };
}

/** Whether a TCP connection to the loopback port is refused (nothing listens). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** Each node as the sandbox seeds it: POST the object, then its status (as a kubelet does). */
async function seedNodes(cp: ControlPlane, names: string[]): Promise<void> {
  const createdAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  let next = 0;
  const seedOne = async (name: string, i: number) => {
    const { metadata, spec, status } = seedNode(name, i, createdAt) as { metadata: Record<string, unknown>; spec: unknown; status: unknown };
    const { uid: _uid, creationTimestamp: _created, ...meta } = metadata;
    const created = await apiRequest(cp, 'POST', '/api/v1/nodes', { body: { apiVersion: 'v1', kind: 'Node', metadata: meta, spec } });
    if (created.status !== 201) throw new Error(`POST node ${name}: ${created.status} ${created.body.slice(0, 500)}`);
    const patched = await apiRequest(cp, 'PATCH', `/api/v1/nodes/${name}/status`, { contentType: 'application/merge-patch+json', body: { status } });
    if (patched.status !== 200) throw new Error(`PATCH node ${name} status: ${patched.status} ${patched.body.slice(0, 500)}`);
  };
  await Promise.all(
    Array.from({ length: Math.min(SEED_CONCURRENCY, names.length) }, async () => {
      while (next < names.length) {
        const i = next++;
        await seedOne(names[i]!, i);
      }
    }),
  );
}
