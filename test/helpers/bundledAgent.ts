import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { buildBundle, COMPILE_CACHE_SCRIPT } from '../../scripts/build.ts';
import type { Clock } from '../../src/clock.ts';
import { startEmulator, type Emulator } from '../../testbed/imds-emulator/server.ts';
import { startSandbox, type Sandbox } from '../../testbed/kube-sandbox/server.ts';
import { selfSignedCertificate, startTlsFront, type TlsFront } from './tls.ts';
import { waitFor } from './wait.ts';
import { WARP_ENV, writeWarpPreload } from './warp.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const NODE = 'aks-nodepool1-00000000';

/** NODE_OPTIONS of the image (the Dockerfile's ENV line), with /app/ pointing at `distDir`. */
export function imageNodeOptions(distDir: string): string[] {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const value = /NODE_OPTIONS="([^"]*)"/.exec(dockerfile)?.[1];
  if (value === undefined) throw new Error('Dockerfile: no NODE_OPTIONS="..." line');
  return value
    .split(/\s+/)
    .filter(Boolean)
    .map((o) => o.replaceAll('/app/', `${distDir}/`));
}

/**
 * Environment variables of the image (the Dockerfile's ENV lines) that change how node runs the
 * bundle, with /app/ pointing at `distDir`: NODE_COMPILE_CACHE.
 */
export function imageEnv(distDir: string): Record<string, string> {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const cache = /NODE_COMPILE_CACHE=(\S+)/.exec(dockerfile)?.[1];
  return cache ? { NODE_COMPILE_CACHE: cache.replace(/^\/app\//, `${distDir}/`) } : {};
}

/**
 * As the image build does (the Dockerfile's RUN line): the compile cache of the bundle in
 * `distDir`, made by this node with the image's NODE_OPTIONS and NODE_COMPILE_CACHE. Nothing to
 * do when the Dockerfile sets no cache.
 */
export function fillCompileCache(distDir: string): void {
  if (!imageEnv(distDir).NODE_COMPILE_CACHE) return;
  execFileSync(process.execPath, [join(distDir, COMPILE_CACHE_SCRIPT)], { env: { PATH: process.env.PATH, ...imageNodeEnv(distDir) }, stdio: 'ignore' });
}

/** The image's whole node environment, as the container has it: its NODE_OPTIONS and imageEnv's variables. */
export function imageNodeEnv(distDir: string): Record<string, string> {
  return { NODE_OPTIONS: imageNodeOptions(distDir).join(' '), ...imageEnv(distDir) };
}

/**
 * The agent's config file as the chart renders it by default (values.yaml `config`, as JSON), so
 * the benchmark reads what the DaemonSet reads (`agent --config ...`); in YAML with `yaml`, to
 * measure what a YAML file costs.
 */
export function writeChartConfig(dir: string, format: 'json' | 'yaml' = 'json'): string {
  const values = parseYaml(readFileSync(join(ROOT, 'charts/imds-labeler/values.yaml'), 'utf8')) as { config: Record<string, unknown> };
  const prune = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).filter(([, x]) => x !== '' && x !== null).map(([k, x]) => [k, prune(x)])) : v;
  const path = join(dir, `config.${format}`);
  writeFileSync(path, format === 'json' ? JSON.stringify(prune(values.config), null, 2) : stringifyYaml(prune(values.config)));
  return path;
}

export interface Workspace {
  dir: string;
  /** The chart's default config file (JSON, as the chart writes it). */
  config: string;
  /** The same in YAML. */
  configYaml: string;
  /** The bundle as the image ships it. */
  distDir: string;
  entry: string;
  warpPreload: string;
  close(): void;
}

/** A temporary directory with a fresh bundle (npm run build into it) and the warp preload. */
export async function workspace(): Promise<Workspace> {
  const dir = mkdtempSync(join(tmpdir(), 'imds-labeler-bench-'));
  const distDir = join(dir, 'dist');
  const built = await buildBundle({ outdir: distDir });
  fillCompileCache(distDir);
  return { dir, distDir, config: writeChartConfig(dir), configYaml: writeChartConfig(dir, 'yaml'), entry: built.entry, warpPreload: writeWarpPreload(dir), close: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Cluster {
  emulator: Emulator;
  sandbox: Sandbox;
  front: TlsFront;
  /** In-cluster style kubeconfig: HTTPS, CA file, bearer token file; JSON. */
  kubeconfig: string;
  /** The same in YAML. */
  kubeconfigYaml: string;
  /** The CA file and the bearer-token file the kubeconfig points at. */
  caFile: string;
  tokenFile: string;
  close(): Promise<void>;
}

/**
 * The IMDS emulator (no 5/s throttle: the benchmark counts requests, it does not limit them),
 * the sandbox with one node behind an HTTPS front, and a kubeconfig that uses a CA file and a
 * token file as the in-cluster configuration does (or plain HTTP with `tls: false`).
 */
export interface ClusterOptions {
  clock?: Clock;
  nodes?: string[];
  /** false: plain HTTP with the sandbox's own kubeconfig (insecure-skip-tls-verify, a token). */
  tls?: boolean;
}

export async function startCluster(dir: string, options: ClusterOptions = {}): Promise<Cluster> {
  const emulator = await startEmulator({ port: 0, rateLimitPerSecond: 0 });
  const sandbox = await startSandbox({ port: 0, nodes: options.nodes ?? [NODE], ...(options.clock ? { clock: options.clock } : {}) });
  const certificate = selfSignedCertificate();
  const front = await startTlsFront(sandbox.port, certificate);
  const ca = join(dir, 'ca.crt');
  const token = join(dir, 'token');
  const name = options.tls === false ? 'kubeconfig-http' : 'kubeconfig';
  const kubeconfigYaml = join(dir, `${name}.yaml`);
  const kubeconfig = join(dir, `${name}.json`);
  writeFileSync(ca, certificate.cert);
  writeFileSync(token, 'sandbox-token\n');
  if (options.tls === false) sandbox.writeKubeconfig(kubeconfigYaml);
  else
    writeFileSync(
      kubeconfigYaml,
      stringifyYaml({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'bench', cluster: { server: front.url, 'certificate-authority': ca } }],
        users: [{ name: 'bench', user: { tokenFile: token } }],
        contexts: [{ name: 'bench', context: { cluster: 'bench', user: 'bench' } }],
        'current-context': 'bench',
      }),
    );
  // In a cluster the agent reads no kubeconfig (the service account's token and CA files); JSON
  // comes closest, as it loads no YAML parser either.
  writeFileSync(kubeconfig, JSON.stringify(parseYaml(readFileSync(kubeconfigYaml, 'utf8'))));
  return {
    emulator,
    sandbox,
    front,
    kubeconfig,
    kubeconfigYaml,
    caFile: ca,
    tokenFile: token,
    async close() {
      await front.close();
      await Promise.all([emulator.close(), sandbox.close()]);
    },
  };
}

/** Labels the agent owns on the node, by key. */
export function agentLabels(sandbox: Sandbox, node = NODE): Record<string, string> {
  const labels = (sandbox.getNode(node)?.metadata?.labels ?? {}) as Record<string, string>;
  return Object.fromEntries(Object.entries(labels).filter(([k]) => k.includes('imds-labeler.io/')));
}

/** Puts the node back as the kubelet registered it: none of the agent's labels or annotations. */
export function resetNode(sandbox: Sandbox, node = NODE): void {
  const n = sandbox.getNode(node)!;
  const strip = (m: Record<string, string> | undefined) => Object.fromEntries(Object.entries(m ?? {}).filter(([k]) => !k.includes('imds-labeler.io')));
  sandbox.putNode({ ...n, metadata: { ...n.metadata, labels: strip(n.metadata.labels), annotations: strip(n.metadata.annotations) } });
}

export interface AgentProcess {
  proc: ChildProcess;
  pid: number;
  /** Wall-clock ms from spawn, by performance.now(). */
  spawnedAt: number;
  /** Metrics port, known once the agent logged that it started. */
  port(): Promise<number>;
  metric(name: string): Promise<number | undefined>;
  stop(): Promise<void>;
}

export interface AgentOptions {
  ws: Workspace;
  cluster: Cluster;
  args?: string[];
  /** Time acceleration (1: real time, no preload). */
  warp?: number;
  /** Extra node options after the image's. */
  nodeOptions?: string[];
  /** Another bundle entry and its node options instead of the image's (an earlier build, the footprint ladder). */
  entry?: string;
  imageOptions?: string[];
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** The config file and kubeconfig in YAML rather than JSON (what a YAML parser costs). */
  yaml?: boolean;
  /** The node the agent labels (default NODE); the cluster must have it. */
  node?: string;
  /** Without the compile cache (default: the one beside the entry, as the image runs it). */
  noCompileCache?: boolean;
}

/** The bundled agent as the image runs it: same node flags (NODE_OPTIONS), JSON logs on stdout. */
export function startAgent(o: AgentOptions): AgentProcess {
  const warp = o.warp ?? 1;
  const flags = [...(o.imageOptions ?? imageNodeOptions(o.ws.distDir)), ...(o.nodeOptions ?? []), ...(warp > 1 ? ['-r', o.ws.warpPreload] : [])];
  const args = ['agent', '--config', o.yaml ? o.ws.configYaml : o.ws.config, '--node-name', o.node ?? NODE, '--kubeconfig', o.yaml ? o.cluster.kubeconfigYaml : o.cluster.kubeconfig, '--imds-endpoint', o.cluster.emulator.url, '--port', '0', '--address', '127.0.0.1', ...(o.args ?? [])];
  const spawnedAt = performance.now();
  const proc = spawn(process.execPath, [...flags, o.entry ?? o.ws.entry, ...args], {
    cwd: o.ws.dir,
    env: { PATH: process.env.PATH, NODE_ENV: 'production', ...(o.noCompileCache ? {} : imageEnv(dirname(o.entry ?? o.ws.entry))), ...o.env, ...(warp > 1 ? { [WARP_ENV]: String(warp) } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let port: number | undefined;
  proc.stdout!.on('data', (c: Buffer) => {
    if (port !== undefined) return;
    out += c.toString();
    const m = /"port":(\d+)[^\n]*imds-labeler agent started|imds-labeler agent started[^\n]*"port":(\d+)/.exec(out);
    if (m) port = Number(m[1] ?? m[2]);
  });
  proc.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const getPort = async () => {
    await waitFor('the agent to start', () => port !== undefined || proc.exitCode !== null, { timeoutMs: 30_000, everyMs: 5 });
    if (port === undefined) throw new Error(`the agent exited: ${err}`);
    return port;
  };
  return {
    proc,
    pid: proc.pid!,
    spawnedAt,
    port: getPort,
    async metric(name) {
      const text = await (await fetch(`http://127.0.0.1:${await getPort()}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : undefined;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}
