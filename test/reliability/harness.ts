import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAgentDependencies } from '../../src/agent/dependencies.ts';
import { runAgent } from '../../src/agent/run.ts';
import type { Clock, Random } from '../../src/clock.ts';
import { configSchema, type Config } from '../../src/config/schema.ts';
import { parseInstanceDocument, type InstanceDocument } from '../../src/imds/document.ts';
import { builtInFixture } from '../../testbed/imds-emulator/fixtures.ts';
import { startEmulator } from '../../testbed/imds-emulator/server.ts';
import type { NodeClient } from '../../src/kube/nodeClient.ts';
import { ownershipKeys } from '../../src/keys/keys.ts';
import { readOwnership } from '../../src/kube/ownership.ts';
import { startSandbox } from '../../testbed/kube-sandbox/server.ts';
import { render } from '../../src/mapping/render.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createMetrics, type Metrics } from '../../src/observability/metrics.ts';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { AgentProcess } from '../helpers/agentProcess.ts';
import { sleep } from '../helpers/wait.ts';

/**
 * The reliability harness: the REAL agent (runAgent over the dependencies the product builds from
 * its config: the real IMDS client over HTTP, the real client-node NodeClient) in this process, against the IMDS emulator and the Kubernetes
 * sandbox on loopback. Faster than a child process, and it lets a test read the metrics registry
 * and every log line directly. Scenarios about the process itself (signals, restarts, exit codes,
 * environment) use test/helpers/agentProcess.ts instead.
 */

export type Emulator = Awaited<ReturnType<typeof startEmulator>>;
export type Sandbox = Awaited<ReturnType<typeof startSandbox>>;
export type Wire = { compute: Record<string, unknown> & { tagsList?: { name: string; value: string }[]; tags?: string } } & Record<string, unknown>;
export type Tag = { name: string; value: string };

export const PREFIX = 'imds-labeler.io';
export const TAG_PREFIX = `tags.${PREFIX}`;
export const OWNERSHIP = ownershipKeys(PREFIX);
export const TAGS_ANNOTATION = `${PREFIX}/tags`;

export const tmpDir = (name: string): string => mkdtempSync(join(tmpdir(), `imds-labeler-${name}-`));

export const defaultWire = (): Wire => builtInFixture('default') as Wire;

/** The default fixture with these tags, in both the tagsList and the legacy string. */
export function wireWithTags(tags: Tag[], base: Wire = defaultWire()): Wire {
  const doc = structuredClone(base);
  doc.compute.tagsList = tags;
  doc.compute.tags = tags.map((t) => `${t.name}:${t.value}`).join(';');
  return doc;
}

/** Labels and annotations the agent must converge to for this wire document and config. */
export function desiredFor(wire: unknown, config: Config = agentConfig()) {
  return render(parseInstanceDocument(wire), config.labels);
}

/** A validated config for in-process runs: fast polls, short retry budget, quiet ports. */
export function agentConfig(overrides: Record<string, unknown> = {}, endpoint = 'http://127.0.0.1:1'): Config {
  const base = {
    imds: { endpoint, requestTimeout: '1500ms', connectTimeout: '1s', retryBudget: '1500ms' },
    poll: { period: '200ms', jitter: 0 },
    kube: { resyncPeriod: '5s', watchTimeout: '30s' },
    server: { port: 0, address: '127.0.0.1' },
    log: { level: 'info' },
  };
  return configSchema.parse(merge(base, overrides));
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isPlain(v) && isPlain(prev) ? merge(prev, v) : v;
  }
  return out;
}
const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface World {
  emulator: Emulator;
  sandbox: Sandbox;
  kubeconfig: string;
  dir: string;
  /** Between tests: no faults on either side, the emulator back on the default document. */
  reset(): void;
  close(): Promise<void>;
}

/** One emulator and one sandbox, for a test file. */
export async function startWorld(
  options: { nodes?: string[]; fixture?: string | object; emulatorClock?: Clock; sandboxClock?: Clock; historyLimit?: number } = {},
): Promise<World> {
  const emulator = await startEmulator({ port: 0, fixture: options.fixture ?? defaultWire(), ...(options.emulatorClock ? { clock: options.emulatorClock } : {}) });
  const sandbox = await startSandbox({ port: 0, nodes: options.nodes ?? ['node-0'], ...(options.sandboxClock ? { clock: options.sandboxClock } : {}), ...(options.historyLimit ? { historyLimit: options.historyLimit } : {}) });
  const dir = tmpDir('world');
  const kubeconfig = join(dir, 'kubeconfig');
  sandbox.writeKubeconfig(kubeconfig);
  return {
    emulator,
    sandbox,
    kubeconfig,
    dir,
    reset() {
      emulator.setFaults({ faults: [] });
      emulator.setFixture(defaultWire());
      sandbox.setFaults({ faults: [] });
    },
    async close() {
      await emulator.close();
      await sandbox.close();
    },
  };
}

export interface InProcessAgent {
  config: Config;
  metrics: Metrics;
  /** Every log line, parsed. */
  logs: Record<string, unknown>[];
  /** Every log line as written. */
  raw: string[];
  /** How many lines were logged, kept or not. */
  logLines(): number;
  port: number;
  /** Resolves when runAgent resolves; rejects if it throws. */
  done: Promise<void>;
  stop(): Promise<void>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

export interface AgentOptions {
  nodeName?: string;
  /** Config overrides (config-file shape); imds.endpoint defaults to the world's emulator. */
  config?: Record<string, unknown>;
  /** The clock of the IMDS side only (retries, rate limiter). */
  imdsClock?: Clock;
  imdsRandom?: Random;
  clock?: Clock;
  random?: Random;
  kubeconfig?: string;
  endpoint?: string;
  /** Wraps the agent's NodeClient, e.g. to record what it sends. */
  wrapNodeClient?: (client: NodeClient) => NodeClient;
  /** Keep every log line in `logs`/`raw` (default true); a soak keeps only the count. */
  keepLogs?: boolean;
  /** Wraps the agent's IMDS fetch (one call per poll cycle), e.g. to count cycles. */
  wrapFetch?: (fetch: (signal: AbortSignal) => Promise<InstanceDocument>) => (signal: AbortSignal) => Promise<InstanceDocument>;
}

/** Starts the real agent loop in this process. */
export async function startInProcessAgent(world: Pick<World, 'emulator' | 'kubeconfig'> | undefined, options: AgentOptions = {}): Promise<InProcessAgent> {
  const endpoint = options.endpoint ?? world?.emulator.url ?? 'http://127.0.0.1:1';
  const parsed = agentConfig(options.config ?? {}, endpoint);
  const config: Config = { ...parsed, kube: { ...parsed.kube, nodeName: options.nodeName ?? 'node-0', kubeconfig: options.kubeconfig ?? world!.kubeconfig } };
  const raw: string[] = [];
  const logs: Record<string, unknown>[] = [];
  let lines = 0;
  const logger = createLogger({
    level: config.log.level,
    format: 'json',
    destination: {
      write(line: string) {
        lines++;
        if (options.keepLogs === false) return;
        raw.push(line);
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          logs.push({ msg: line, unparsed: true });
        }
      },
    },
  });
  const deps = await buildAgentDependencies(config, {
    logger,
    metrics: createMetrics({ version: 'test', processMetrics: false }),
    imds: { ...(options.imdsClock ? { clock: options.imdsClock } : {}), ...(options.imdsRandom ? { random: options.imdsRandom } : {}) },
  });
  const controller = new AbortController();
  let port = 0;
  let onListening!: () => void;
  const listening = new Promise<void>((resolve) => (onListening = resolve));
  const agentDone = runAgent({
    ...deps,
    config,
    nodeClient: options.wrapNodeClient ? options.wrapNodeClient(deps.nodeClient) : deps.nodeClient,
    fetchInstance: options.wrapFetch ? options.wrapFetch(deps.fetchInstance) : deps.fetchInstance,
    signal: controller.signal,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.random ? { random: options.random } : {}),
    onListening: (p) => {
      port = p;
      onListening();
    },
  });
  await Promise.race([listening, agentDone]);
  return {
    config,
    metrics: deps.metrics,
    logs,
    raw,
    logLines: () => lines,
    port,
    done: agentDone,
    async stop() {
      controller.abort(new Error('test stop'));
      await agentDone;
    },
    metric: (name, labels = {}) => metricValue(deps.metrics, name, labels),
  };
}

/** The sum of a counter's or gauge's series whose labels include `labels`; 0 when none. */
export async function metricValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const data = await metric.get();
  let sum = 0;
  for (const v of data.values) {
    const l = v.labels as Record<string, string | number>;
    if (Object.entries(labels).every(([k, want]) => String(l[k]) === want)) sum += v.value;
  }
  return sum;
}


export { sleep };

/** Writes to Node objects (Events are not counted: they are fire-and-forget and trail the patch). */
export function nodeWrites(sandbox: Sandbox): number {
  const byVerbResource = sandbox.counters().byVerbResource;
  return Object.entries(byVerbResource)
    .filter(([k]) => /^(create|update|patch|delete|deletecollection) nodes/.test(k))
    .reduce((sum, [, n]) => sum + n, 0);
}

export function nodeMeta(sandbox: Sandbox, name = 'node-0') {
  const node = sandbox.getNode(name);
  return {
    exists: node !== undefined,
    resourceVersion: node?.metadata.resourceVersion,
    uid: node?.metadata.uid,
    labels: { ...(node?.metadata.labels ?? {}) },
    annotations: { ...(node?.metadata.annotations ?? {}) },
  };
}

/** Keys under the agent's two prefixes. */
export const isAgentKey = (key: string) => key.startsWith(`${PREFIX}/`) || key.startsWith(`${TAG_PREFIX}/`);
export const agentPart = (record: Record<string, string>) => Object.fromEntries(Object.entries(record).filter(([k]) => isAgentKey(k)));
export const foreignPart = (record: Record<string, string>) => Object.fromEntries(Object.entries(record).filter(([k]) => !isAgentKey(k)));

/** The agent's labels and annotations (bookkeeping excluded) equal the desired state exactly. */
export function matchesDesired(sandbox: Sandbox, desired: { labels: Record<string, string>; annotations: Record<string, string> }, name = 'node-0'): boolean {
  const n = nodeMeta(sandbox, name);
  const annotations = agentPart(n.annotations);
  delete annotations[OWNERSHIP.labels];
  delete annotations[OWNERSHIP.annotations];
  return same(agentPart(n.labels), desired.labels) && same(annotations, desired.annotations);
}

/**
 * The node is consistent: the ownership record names exactly the agent's keys on the node (no
 * owned key missing, no agent key unrecorded).
 */
export function ownershipProblems(sandbox: Sandbox, name = 'node-0'): string[] {
  const n = nodeMeta(sandbox, name);
  const owned = readOwnership(n.annotations, OWNERSHIP);
  const problems: string[] = [];
  const labelKeys = Object.keys(agentPart(n.labels));
  const annotationKeys = Object.keys(agentPart(n.annotations)).filter((k) => k !== OWNERSHIP.labels && k !== OWNERSHIP.annotations);
  for (const k of owned.labels) if (!(k in n.labels)) problems.push(`owned label ${k} missing`);
  for (const k of labelKeys) if (!owned.labels.has(k)) problems.push(`label ${k} not in the ownership record`);
  for (const k of owned.annotations) if (!(k in n.annotations)) problems.push(`owned annotation ${k} missing`);
  for (const k of annotationKeys) if (!owned.annotations.has(k)) problems.push(`annotation ${k} not in the ownership record`);
  return problems;
}

export function same(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

/**
 * A world for tests of the agent process: started before the file's tests; after each test the
 * agent process (set `agent`) is killed and the emulator's and sandbox's faults are cleared.
 */
export function processWorld(nodes: string[]): { readonly world: World; agent: AgentProcess | undefined } {
  let world: World | undefined;
  const env = {
    get world(): World {
      return world!;
    },
    agent: undefined as AgentProcess | undefined,
  };
  beforeAll(async () => {
    world = await startWorld({ nodes });
  });
  afterAll(async () => {
    await world?.close();
  });
  afterEach(async () => {
    await env.agent?.stop('SIGKILL');
    env.agent = undefined;
    world!.reset();
  });
  return env;
}
