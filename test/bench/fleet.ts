/**
 * npm run bench:fleet — thousands of simulated agents against one sandbox.
 *
 * Each simulated agent runs the agent's real code: runPoller (jittered polls), render (mapping),
 * runNodeWatch (list + watch with jittered timeouts, backoff, 410 handling), NodeSyncer and
 * reconcile (the minimal patch). What is shared, so that 5,000 agents fit in one process on two
 * cores:
 *   - IMDS: an in-process document per node (the IMDS side is measured by `npm run bench`);
 *   - reads: list/watch of each agent are answered by one informer (a single list and watch
 *     against the sandbox, fanned out per node). Each agent's own list/watch calls are still
 *     counted, as the reads the API server would see;
 *   - writes: every patch goes over HTTP to the sandbox through @kubernetes/client-node.
 * Time runs faster than the wall clock (--speed); every figure is reported in agent time.
 *
 * Usage: npm run bench:fleet --  [--nodes 5000] [--speed 6] [--hour-speed 60]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Clock } from '../../src/clock.ts';
import { configSchema } from '../../src/config/schema.ts';
import { builtInFixture } from '../../src/imds/emulator/fixtures.ts';
import { parseInstanceDocument, type InstanceDocument } from '../../src/imds/document.ts';
import { runPoller } from '../../src/imds/poller.ts';
import { createClientNodeNodeClient, loadKubeConfig } from '../../src/kube/clientNode.ts';
import { KubeError } from '../../src/kube/errors.ts';
import type { NodeClient, WatchEnd, WatchHandlers, WatchOptions } from '../../src/kube/nodeClient.ts';
import { runNodeWatch } from '../../src/kube/nodeWatch.ts';
import { reconcilePolicy } from '../../src/kube/policy.ts';
import { NodeSyncer } from '../../src/kube/syncer.ts';
import { toNodeMeta, type NodeMeta } from '../../src/kube/types.ts';
import { Watch } from '@kubernetes/client-node';
import { render } from '../../src/mapping/render.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import type { CounterSnapshot, SandboxFaults } from '../../src/kube/sandbox/server.ts';

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '5000' }, speed: { type: 'string', default: '6' }, 'hour-speed': { type: 'string', default: '60' } } });
const N = Number(values.nodes);
let SPEED = Number(values.speed);
const PERIOD_MS = 60_000;
const JITTER = 0.2;
const WATCH_TIMEOUT_MS = 300_000;

/**
 * Agent time runs SPEED times faster than the wall clock. Timers are kept in agent time, so a
 * change of speed (the steady-state hour runs faster) applies to sleeps already pending.
 */
let origin = { wall: Date.now(), agent: Date.now() };
const agentNow = () => origin.agent + (Date.now() - origin.wall) * SPEED;
interface Sleeper { at: number; fire: () => void; cancelled: boolean }
/** A binary min-heap on `at`: tens of thousands of pending sleeps, thousands firing a second. */
const heap: Sleeper[] = [];
function push(t: Sleeper) {
  heap.push(t);
  for (let i = heap.length - 1; i > 0; ) {
    const p = (i - 1) >> 1;
    if (heap[p]!.at <= heap[i]!.at) break;
    [heap[p], heap[i]] = [heap[i]!, heap[p]!];
    i = p;
  }
}
function pop(): Sleeper {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length) {
    heap[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && heap[l]!.at < heap[m]!.at) m = l;
      if (r < heap.length && heap[r]!.at < heap[m]!.at) m = r;
      if (m === i) break;
      [heap[m], heap[i]] = [heap[i]!, heap[m]!];
      i = m;
    }
  }
  return top;
}
let driver: NodeJS.Timeout | undefined;
let nextAt = Infinity;
function drive() {
  if (driver) clearTimeout(driver);
  driver = undefined;
  nextAt = Infinity;
  const now = agentNow();
  while (heap.length && heap[0]!.at <= now) {
    const t = pop();
    if (!t.cancelled) t.fire();
  }
  if (heap.length) {
    nextAt = heap[0]!.at;
    driver = setTimeout(drive, Math.max(1, (nextAt - now) / SPEED));
  }
}
const setSpeed = (speed: number) => {
  origin = { wall: Date.now(), agent: agentNow() };
  SPEED = speed;
  drive();
};
const clock: Clock = {
  now: agentNow,
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const sleeper: Sleeper = {
        at: agentNow() + ms,
        cancelled: false,
        fire: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        sleeper.cancelled = true;
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      push(sleeper);
      if (sleeper.at < nextAt) drive();
    }),
};
const agentSeconds = (wallMs: number) => (wallMs * SPEED) / 1000;

const names = Array.from({ length: N }, (_, i) => `aks-pool-${String(i).padStart(5, '0')}`);
const dir = mkdtempSync(join(tmpdir(), 'imds-labeler-fleet-'));
const kubeconfig = join(dir, 'kubeconfig');
// The sandbox runs in its own process, on the other core, as an API server would.
const sandboxProcess = spawn(process.execPath, [fileURLToPath(new URL('../../cmd/imds-labeler.ts', import.meta.url)), 'sandbox', '--port', '0', '--nodes', names.join(','), '--kubeconfig-out', kubeconfig], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const sandboxUrl = await new Promise<string>((resolve, reject) => {
  sandboxProcess.stdout!.on('data', (chunk: Buffer) => {
    const m = /listening on (http:\/\/\S+)/.exec(chunk.toString());
    if (m) resolve(m[1]!);
  });
  sandboxProcess.once('exit', (code) => reject(new Error(`sandbox exited with ${code}`)));
});
const sandbox = {
  counters: async () => (await (await fetch(`${sandboxUrl}/_sandbox/counters`)).json()) as CounterSnapshot,
  resetCounters: async () => void (await fetch(`${sandboxUrl}/_sandbox/counters/reset`, { method: 'POST' })),
  setFaults: async (faults: SandboxFaults) => void (await fetch(`${sandboxUrl}/_sandbox/faults`, { method: 'POST', body: JSON.stringify(faults), headers: { 'content-type': 'application/json' } })),
  close: async () => {
    sandboxProcess.kill('SIGTERM');
    await once(sandboxProcess, 'exit');
  },
};
const kc = loadKubeConfig(kubeconfig);
const api = createClientNodeNodeClient({ component: 'imds-labeler' }, kc);
const watcher = new Watch(kc);

// ---- IMDS: one document per node; the tag value is the fleet-wide "generation".
const base = builtInFixture('default') as { compute: Record<string, unknown> };
let tagValue = 'v1';
const docs = new Map<string, InstanceDocument>();
const documentFor = (name: string, i: number): InstanceDocument => {
  const key = `${name}:${tagValue}`;
  let doc = docs.get(key);
  if (!doc) {
    doc = parseInstanceDocument({
      compute: { ...base.compute, name, platformFaultDomain: String(i % 3), platformUpdateDomain: String(i % 5), tagsList: [{ name: 'release', value: tagValue }], tags: `release:${tagValue}` },
    });
    docs.set(key, doc);
  }
  return doc;
};

// ---- Reads: one informer, fanned out to each agent's NodeClient.
const cache = new Map<string, NodeMeta>();
let cacheVersion = '0';
const watchers = new Map<string, Set<{ handlers: WatchHandlers; end: (e: WatchEnd) => void }>>();
const reads = { list: 0, watch: 0 };
/** Agent time of every request the simulated agents make, for rates per agent-second. */
let requestTimes: number[] = [];
let writeTimes: number[] = [];
let refused = false;

async function runInformer(signal: AbortSignal) {
  while (!signal.aborted) {
    try {
      const list = await api.list({ signal });
      for (const n of list.nodes) cache.set(n.name, n);
      cacheVersion = list.resourceVersion;
      // One watch of every node (the agents' NodeClient watches one node each).
      await new Promise<void>((resolve) => {
        void watcher
          .watch(
            '/api/v1/nodes',
            { resourceVersion: cacheVersion, timeoutSeconds: 3600 },
            (type: string, object: unknown) => {
              if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
              const node = toNodeMeta(object as never);
              cacheVersion = node.resourceVersion;
              if (type === 'DELETED') cache.delete(node.name);
              else cache.set(node.name, node);
              for (const w of watchers.get(node.name) ?? []) w.handlers.onEvent(type, structuredClone(node));
            },
            () => resolve(),
          )
          .then((controller) => signal.addEventListener('abort', () => controller.abort(), { once: true }));
      });
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Each simulated agent's NodeClient: reads from the informer (counted), writes over HTTP. */
function agentClient(): NodeClient {
  return {
    async list({ name } = {}) {
      reads.list++;
      requestTimes.push(agentNow());
      if (refused) throw new KubeError('network', 'cannot reach the Kubernetes API: ECONNREFUSED');
      const node = name ? cache.get(name) : undefined;
      return { nodes: node ? [structuredClone(node)] : [], resourceVersion: cacheVersion };
    },
    watch(name: string, options: WatchOptions, handlers: WatchHandlers) {
      reads.watch++;
      requestTimes.push(agentNow());
      if (refused) return Promise.resolve({ reason: 'error', error: new KubeError('network', 'ECONNREFUSED') } as WatchEnd);
      return new Promise<WatchEnd>((resolve) => {
        const set = watchers.get(name) ?? new Set();
        watchers.set(name, set);
        const entry = {
          handlers,
          end: (e: WatchEnd) => {
            set.delete(entry);
            timeout.abort();
            resolve(e);
          },
        };
        set.add(entry);
        // The server closes the watch after timeoutSeconds (agent time).
        const timeout = new AbortController();
        void clock.sleep(options.timeoutSeconds * 1000, timeout.signal).then(() => entry.end({ reason: 'closed' }), () => undefined);
        options.signal.addEventListener('abort', () => entry.end({ reason: 'closed' }), { once: true });
      });
    },
    patch: (name, patch, signal) => {
      requestTimes.push(agentNow());
      writeTimes.push(agentNow());
      return api.patch(name, patch, signal);
    },
    event: async () => undefined, // Events are rate-limited per agent and measured by npm run bench.
  };
}

// ---- Start the fleet.
const stop = new AbortController();
const informer = runInformer(stop.signal);
while (cache.size < N) await new Promise((r) => setTimeout(r, 50));
const labels = configSchema.parse({}).labels;
const policy = reconcilePolicy(labels);
const logger = silentLogger();
const loops: Promise<void>[] = [];
for (const [i, name] of names.entries()) {
  const client = agentClient();
  const random = Math.random;
  const syncer = new NodeSyncer({ client, nodeName: name, policy, clock, random, logger, dryRun: false, events: false, signal: stop.signal });
  loops.push(
    runNodeWatch({ client, name, watchTimeoutMs: WATCH_TIMEOUT_MS, clock, random, signal: stop.signal, logger, onNode: (n) => syncer.setObserved(n) }),
    runPoller({
      fetch: async () => documentFor(name, i),
      periodMs: PERIOD_MS,
      jitter: JITTER,
      // A fleet that has run for a while polls at random phases, not all at once.
      initialDelayMs: Math.random() * PERIOD_MS,
      clock,
      random,
      signal: stop.signal,
      onDocument: (doc) => syncer.setDesired(render(doc, labels)),
      onError: () => undefined,
    }),
  );
}

const labelled = (value: string) => names.filter((n) => cache.get(n)?.labels['tags.imds-labeler.io/release'] === value).length;

/** Peak and mean request rate per agent-second, from the agents' own request times. */
function rates(times: number[]) {
  if (!times.length) return { peak: 0, mean: 0, firstSeconds: [] as number[] };
  const buckets = new Map<number, number>();
  for (const t of times) buckets.set(Math.floor(t / 1000), (buckets.get(Math.floor(t / 1000)) ?? 0) + 1);
  const first = Math.min(...buckets.keys());
  const last = Math.max(...buckets.keys());
  const firstSeconds = Array.from({ length: 10 }, (_, i) => buckets.get(first + i) ?? 0);
  return { peak: Math.max(...buckets.values()), mean: times.length / (last - first + 1), firstSeconds };
}

async function until(what: string, check: () => boolean, timeoutWallMs: number) {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutWallMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - started;
}

const results: string[] = [];
const line = (s: string) => {
  results.push(s);
  console.log(s);
};

console.log(`fleet: ${N} simulated agents, one sandbox, time x${SPEED}, poll period ${PERIOD_MS / 1000}s ±${JITTER * 100}%`);
await until('first labels on every node', () => labelled('v1') === N, 600_000);
await until('the fleet to settle', () => true, 0);
await new Promise((r) => setTimeout(r, (2 * PERIOD_MS) / SPEED));

// ---- Scenario 1: a tag changes on every VM at once.
await sandbox.resetCounters();
writeTimes = [];
tagValue = 'v2';
const started1 = Date.now();
await until('every node to carry the new tag', () => labelled('v2') === N, 600_000);
const converge1 = agentSeconds(Date.now() - started1);
await new Promise((r) => setTimeout(r, (PERIOD_MS * 0.5) / SPEED));
const c1 = await sandbox.counters();
const r1 = rates(writeTimes);
line(`scenario 1, a tag changes on all ${N} VMs: converged in ${converge1.toFixed(1)} s; writes ${c1.byVerbResource['patch nodes'] ?? 0} (${(c1.byVerbResource['patch nodes'] ?? 0) === N ? 'exactly one per node' : 'NOT one per node'}); write rate peak ${r1.peak}/s, mean ${r1.mean.toFixed(1)}/s`);

// ---- Scenario 2: the API server refuses connections for 60 s, then recovers.
await new Promise((r) => setTimeout(r, PERIOD_MS / SPEED));
await sandbox.resetCounters();
refused = true;
for (const set of watchers.values()) for (const w of [...set]) w.end({ reason: 'error', error: new KubeError('network', 'ECONNRESET') });
await sandbox.setFaults({ refuse: { forMs: Math.round(60_000 / SPEED), mode: 'close' } });
tagValue = 'v3'; // every agent wants to write during the outage
await new Promise((r) => setTimeout(r, 60_000 / SPEED));
refused = false;
const recovered = Date.now();
const recoveredAt = agentNow();
requestTimes = [];
await until('every node to carry the tag set during the outage', () => labelled('v3') === N, 600_000);
const converge2 = agentSeconds(Date.now() - recovered);
await new Promise((r) => setTimeout(r, (PERIOD_MS * 0.5) / SPEED));
const r2 = rates(requestTimes.filter((t) => t >= recoveredAt));
const c2 = await sandbox.counters();
line(`scenario 2, API refused for 60 s: recovered and converged ${converge2.toFixed(1)} s after; requests on recovery peak ${r2.peak}/s, mean ${r2.mean.toFixed(1)}/s (first 10 s: ${r2.firstSeconds.join(' ')}); ${c2.byVerbResource['patch nodes'] ?? 0} patches for ${N} nodes`);

// ---- Scenario 3: steady state for an hour of agent time.
await new Promise((r) => setTimeout(r, PERIOD_MS / SPEED));
await sandbox.resetCounters();
reads.list = 0;
reads.watch = 0;
const hourSpeed = Math.max(SPEED, Number(values['hour-speed']));
setSpeed(hourSpeed);
await new Promise((r) => setTimeout(r, 3_600_000 / hourSpeed));
const c3 = await sandbox.counters();
line(`scenario 3, steady state for 1 h: writes ${c3.writes}; reads by the agents ${reads.list + reads.watch} (${reads.list} lists, ${reads.watch} watches), ${((reads.list + reads.watch) / N).toFixed(1)} per node-hour`);

stop.abort();
await Promise.allSettled([informer, ...loops]);
await sandbox.close();
writeFileSync(join(dir, 'results.txt'), results.join('\n'));
