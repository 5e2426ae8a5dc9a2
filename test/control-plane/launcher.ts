/**
 * A real Kubernetes control plane for tests, in the manner of controller-runtime's envtest: etcd,
 * kube-apiserver and kube-scheduler as local processes on free loopback ports, with no kubelet,
 * no controller manager, no Docker and no VM. Every listener is bound to 127.0.0.1 and every
 * client here talks only to 127.0.0.1.
 *
 * The binaries come from scripts/kube-binaries.sh (built once from Go modules, then cached).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedCertificate } from '../helpers/tls.ts';
import { ROOT } from '../helpers/agentProcess.ts';
import { waitFor } from '../helpers/wait.ts';

export type Component = 'etcd' | 'kube-apiserver' | 'kube-scheduler';
const COMPONENTS: readonly Component[] = ['etcd', 'kube-apiserver', 'kube-scheduler'];

/** Everything a test needs to reach a control plane; plain data, so vitest can `provide` it. */
export interface ControlPlaneInfo {
  /** https://127.0.0.1:PORT */
  url: string;
  /** PEM of the serving certificate, which is its own CA. */
  ca: string;
  /** Bearer token of user `admin` in group system:masters. */
  adminToken: string;
  /** http://127.0.0.1:PORT, etcd's client URL (and its JSON gRPC gateway). */
  etcdUrl: string;
  /** The working directory: data, certificates, kubeconfigs and one log file per component. */
  dir: string;
  logs: Record<Component, string>;
  binDir: string;
}

export interface ApiResponse {
  status: number;
  body: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

export interface RequestOptions {
  body?: unknown;
  /** Default application/json; application/merge-patch+json etc. for PATCH. */
  contentType?: string;
  /** Bearer token; default the admin's. */
  token?: string;
  /** Extra request headers (Impersonate-User, ...). */
  headers?: Record<string, string | string[]>;
  timeoutMs?: number;
}

/**
 * The Kubernetes releases the tier runs against (scripts/kube-versions.txt, which
 * scripts/kube-binaries.sh reads too): the current one first, then the older supported ones.
 */
export const KUBE_VERSIONS: readonly string[] = readFileSync(join(ROOT, 'scripts/kube-versions.txt'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

/** The Kubernetes binaries' directory for `version` (default the current release): builds them on first use (loudly), reuses them after. */
export function kubeBinaries(version = KUBE_VERSIONS[0]!): Promise<string> {
  return new Promise((resolve, reject) => {
    // stderr (build progress) goes straight to the terminal; stdout is the directory.
    const child = spawn('bash', [join(ROOT, 'scripts/kube-binaries.sh')], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, IMDS_LABELER_KUBE_VERSION: version } });
    let stdout = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`scripts/kube-binaries.sh exited ${code} (the real-cluster tests need Go, or IMDS_LABELER_KUBE_BIN_DIR)`));
      const dir = stdout.trim().split('\n').pop() ?? '';
      for (const c of COMPONENTS) if (!existsSync(join(dir, c))) return reject(new Error(`scripts/kube-binaries.sh printed ${dir}, which has no ${c}`));
      resolve(dir);
    });
  });
}

/** A free loopback port (closed again before use, as envtest does). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function collect(res: IncomingMessage, resolve: (r: ApiResponse) => void): void {
  let text = '';
  res.setEncoding('utf8');
  res.on('data', (c: string) => (text += c));
  res.on('end', () => {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    resolve({ status: res.statusCode ?? 0, body: text, json });
  });
}

/** One HTTPS request to the API server; resolves for every status. */
export function apiRequest(info: Pick<ControlPlaneInfo, 'url' | 'ca' | 'adminToken'>, method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> {
  const body = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      new URL(path, info.url),
      {
        method,
        ca: info.ca,
        agent: false,
        headers: {
          Authorization: `Bearer ${options.token ?? info.adminToken}`,
          Accept: 'application/json',
          ...(body !== undefined ? { 'Content-Type': options.contentType ?? 'application/json' } : {}),
          ...options.headers,
        },
        timeout: options.timeoutMs ?? 30_000,
      },
      (res) => collect(res, resolve),
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in time`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Plain HTTP to etcd's client URL (health, and the JSON gRPC gateway under /v3/). */
export function etcdRequest(etcdUrl: string, path: string, body?: unknown): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(path, etcdUrl), { method: body === undefined ? 'GET' : 'POST', agent: false, timeout: 10_000 }, (res) => collect(res, resolve));
    req.on('timeout', () => req.destroy(new Error(`etcd ${path}: no answer in time`)));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** A kubeconfig for the control plane with the given bearer token (default the admin's). */
export function kubeconfigFor(info: Pick<ControlPlaneInfo, 'url' | 'ca' | 'adminToken'>, token = info.adminToken, user = 'admin'): string {
  const ca = Buffer.from(info.ca).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: test\n  cluster:\n    server: ${info.url}\n    certificate-authority-data: ${ca}`,
    'users:',
    `- name: ${user}\n  user:\n    token: ${token}`,
    'contexts:',
    `- name: test\n  context:\n    cluster: test\n    user: ${user}`,
    'current-context: test',
    '',
  ].join('\n');
}

/** The last lines of a component's log. */
export function logTail(info: ControlPlaneInfo, component: Component, lines = 40): string {
  try {
    return readFileSync(info.logs[component], 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface ControlPlaneOptions {
  /** Extra kube-apiserver flags (e.g. `--watch-cache=false`). */
  apiserverFlags?: string[];
  /** kube-apiserver's --enable-admission-plugins (default NodeRestriction, as a real cluster runs it). */
  admissionPlugins?: string[];
  /** The Kubernetes release (one of KUBE_VERSIONS); default the current one. */
  kubeVersion?: string;
  /** Keep the working directory after stop() (the logs). Default: keep only when IMDS_LABELER_KEEP_CONTROL_PLANE is set. */
  keep?: boolean;
}

export interface ControlPlane extends ControlPlaneInfo {
  /** The component's process id while it runs (for its CPU and memory in /proc). */
  pid(component: Component): number | undefined;
  stopComponent(component: Component): Promise<void>;
  startComponent(component: Component): Promise<void>;
  /** kube-apiserver stopped and started again on the same port, over the same etcd. */
  restartApiserver(): Promise<void>;
  /** Stops the scheduler, the API server, then etcd, and removes the working directory. */
  stop(): Promise<void>;
}

/** Starts etcd, kube-apiserver and kube-scheduler on free loopback ports, ready when /readyz says so. */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const binDir = await kubeBinaries(options.kubeVersion);
  const dir = mkdtempSync(join(tmpdir(), 'imds-labeler-control-plane-'));
  const [etcdPort, peerPort, apiPort, schedulerPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const url = `https://127.0.0.1:${apiPort}`;

  // Serving certificate for 127.0.0.1 (self-signed, its own CA), service-account signing key, static tokens.
  const serving = selfSignedCertificate();
  writeFileSync(join(dir, 'apiserver.crt'), serving.cert);
  writeFileSync(join(dir, 'apiserver.key'), serving.key, { mode: 0o600 });
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(dir, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
  const adminToken = randomBytes(24).toString('hex');
  const schedulerToken = randomBytes(24).toString('hex');
  writeFileSync(join(dir, 'tokens.csv'), `${adminToken},admin,admin-uid,"system:masters"\n${schedulerToken},system:kube-scheduler,kube-scheduler-uid\n`, { mode: 0o600 });
  const info: ControlPlaneInfo = {
    url,
    ca: serving.cert,
    adminToken,
    etcdUrl,
    dir,
    binDir,
    logs: { etcd: join(dir, 'etcd.log'), 'kube-apiserver': join(dir, 'kube-apiserver.log'), 'kube-scheduler': join(dir, 'kube-scheduler.log') },
  };
  writeFileSync(join(dir, 'scheduler.kubeconfig'), kubeconfigFor(info, schedulerToken, 'kube-scheduler'), { mode: 0o600 });
  writeFileSync(join(dir, 'admin.kubeconfig'), kubeconfigFor(info), { mode: 0o600 });
  mkdirSync(join(dir, 'etcd'));

  const args: Record<Component, string[]> = {
    etcd: [
      '--name=default',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    'kube-apiserver': [
      '--advertise-address=127.0.0.1',
      '--bind-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${join(dir, 'apiserver.crt')}`,
      `--tls-private-key-file=${join(dir, 'apiserver.key')}`,
      `--etcd-servers=${etcdUrl}`,
      // A range nothing connects to: no kube-proxy runs, and the tests talk to 127.0.0.1 only.
      '--service-cluster-ip-range=10.0.0.0/24',
      `--service-account-issuer=${url}`,
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=Node,RBAC',
      `--enable-admission-plugins=${(options.admissionPlugins ?? ['NodeRestriction']).join(',')}`,
      '--allow-privileged=true',
      '--endpoint-reconciler-type=none',
      ...(options.apiserverFlags ?? []),
    ],
    'kube-scheduler': [
      `--kubeconfig=${join(dir, 'scheduler.kubeconfig')}`,
      `--authentication-kubeconfig=${join(dir, 'scheduler.kubeconfig')}`,
      `--authorization-kubeconfig=${join(dir, 'scheduler.kubeconfig')}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${schedulerPort}`,
      `--cert-dir=${join(dir, 'scheduler-certs')}`,
    ],
  };
  const ready: Record<Component, () => Promise<boolean>> = {
    etcd: async () => ((await etcdRequest(etcdUrl, '/health').catch(() => undefined))?.json as { health?: string } | undefined)?.health === 'true',
    'kube-apiserver': async () => (await apiRequest(info, 'GET', '/readyz').catch(() => undefined))?.status === 200,
    'kube-scheduler': () =>
      new Promise<boolean>((resolve) => {
        const req = httpsRequest({ host: '127.0.0.1', port: schedulerPort, path: '/healthz', rejectUnauthorized: false, agent: false, timeout: 2000 }, (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        });
        req.on('error', () => resolve(false));
        req.on('timeout', () => req.destroy());
        req.end();
      }),
  };

  const procs = new Map<Component, ChildProcess>();
  const exits = new Map<Component, Promise<void>>();
  const startComponent = async (c: Component) => {
    const log = openSync(info.logs[c], 'a');
    const proc = spawn(join(binDir, c), args[c], { stdio: ['ignore', log, log], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir } });
    closeSync(log);
    procs.set(c, proc);
    exits.set(c, new Promise((resolve) => proc.once('exit', () => resolve())));
    const timeoutMs = c === 'kube-apiserver' ? 120_000 : 60_000;
    try {
      await waitFor(`${c} ready`, async () => (proc.exitCode !== null || proc.signalCode !== null ? 'exited' : (await ready[c]()) ? 'ready' : 'starting'), { accept: (s) => s !== 'starting', timeoutMs: timeoutMs, everyMs: 100 }).then((s) => {
        if (s === 'exited') throw new Error(`${c} exited during start-up`);
      });
    } catch (err) {
      throw new Error(`${(err as Error).message}; log ${info.logs[c]}:\n${logTail(info, c)}`, { cause: err });
    }
  };
  const stopComponent = async (c: Component) => {
    const proc = procs.get(c);
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    // A timer of its own, cleared once the process exits: a pending one would keep the test process alive.
    let timer: NodeJS.Timeout | undefined;
    const killed = await Promise.race([exits.get(c)!.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), 15_000)))]);
    clearTimeout(timer);
    if (killed) {
      proc.kill('SIGKILL');
      await exits.get(c);
    }
  };

  const stop = async () => {
    for (const c of [...COMPONENTS].reverse()) await stopComponent(c);
    if (!(options.keep ?? process.env.IMDS_LABELER_KEEP_CONTROL_PLANE)) rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const c of COMPONENTS) await startComponent(c);
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  return {
    ...info,
    pid: (c) => {
      const proc = procs.get(c);
      return proc && proc.exitCode === null && proc.signalCode === null ? proc.pid : undefined;
    },
    startComponent,
    stopComponent,
    async restartApiserver() {
      await stopComponent('kube-apiserver');
      await startComponent('kube-apiserver');
    },
    stop,
  };
}
