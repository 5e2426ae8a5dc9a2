/**
 * npm run bench:fleet — thousands of simulated agents against one sandbox API server.
 *
 * Each simulated agent runs the agent's real code: runPoller (jittered polls), render (mapping),
 * the change detection of src/agent.ts, runNodeWatch (list + watch with jittered timeouts,
 * backoff, 410 handling), NodeSyncer (retries, pacing, Events) and reconcile (the minimal patch).
 * What is shared, so that 5,000 agents fit in one process on two cores:
 *   - IMDS: an in-process document per node (the IMDS side is what `npm run bench` measures);
 *   - reads: the agents' list/watch calls are answered by one informer (one list and one watch
 *     of all nodes against the sandbox) fanned out per node; each agent's own list and watch
 *     calls are counted as the reads the API server would get. A real HTTP watch per node does
 *     not scale in the sandbox: every list copies every node and every change is copied for
 *     every watcher;
 *   - writes: every patch and every Event goes over HTTP to the sandbox through
 *     @kubernetes/client-node, and is counted by the sandbox.
 * The sandbox runs in its own process (the other core). Agent time runs faster than the wall
 * clock (--speed, --hour-speed); every figure is in agent time.
 *
 * Usage: npm run bench:fleet -- [--nodes 5000] [--speed 2] [--hour-speed 60]
 *   --speed: agent time per wall second while agents write (start-up, scenarios 1 and 2); the
 *   fleet process must keep up (its event-loop delay is reported) or rates come out in bursts.
 *   --hour-speed: for the quiet steady-state hour and the pauses between scenarios.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Watch } from '@kubernetes/client-node';
import { jittered } from '../../src/backoff.ts';
import type { Clock } from '../../src/clock.ts';
import { configSchema } from '../../src/config/schema.ts';
import { builtInFixture } from '../../testbed/imds-emulator/fixtures.ts';
import { parseInstanceDocument, type InstanceDocument } from '../../src/imds/document.ts';
import { runPoller } from '../../src/imds/poller.ts';
import { createClientNodeNodeClient, loadKubeConfig } from '../../src/kube/clientNode.ts';
import { KubeError } from '../../src/kube/errors.ts';
import type { NodeClient, WatchEnd, WatchHandlers, WatchOptions } from '../../src/kube/nodeClient.ts';
import { runNodeWatch } from '../../src/kube/nodeWatch.ts';
import { reconcilePolicy } from '../../src/kube/policy.ts';
import { NodeSyncer } from '../../src/kube/syncer.ts';
import { toNodeMeta, type NodeMeta } from '../../src/kube/types.ts';
import type { Desired } from '../../src/mapping/desired.ts';
import { render } from '../../src/mapping/render.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { cpuSeconds, memory } from './lib/proc.ts';
import { startSandboxProcess } from './lib/sandboxProcess.ts';
import { fixed, until } from './lib/stats.ts';

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '5000' }, speed: { type: 'string', default: '2' }, 'hour-speed': { type: 'string', default: '60' } } });
const N = Number(values.nodes);
let SPEED = Number(values.speed);
const HOUR_SPEED = Math.max(SPEED, Number(values['hour-speed']));
/** The deployed settings (chart defaults). */
const PERIOD_MS = 60_000;
const JITTER = 0.2;
const WATCH_TIMEOUT_MS = 300_000;
const OUTAGE_MS = 60_000;
const RESYNC_MS = 600_000;
const started = performance.now();

// ---- Time: agent time runs SPEED times faster than the wall clock. Sleeps are kept in agent
// time in one heap, so a change of speed (the steady-state hour runs faster) applies to sleeps
// already pending, and 20,000 pending sleeps cost one wall-clock timer.
let origin = { wall: Date.now(), agent: Date.now() };
const agentNow = () => origin.agent + (Date.now() - origin.wall) * SPEED;
interface Sleeper {
  at: number;
  fire: () => void;
  cancelled: boolean;
}
const heap: Sleeper[] = [];
function push(t: Sleeper): void {
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
function drive(): void {
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
function setSpeed(speed: number): void {
  origin = { wall: Date.now(), agent: agentNow() };
  SPEED = speed;
  drive();
}
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
/** Waits `agentMs` of agent time (at whatever speed applies meanwhile). */
const wait = (agentMs: number) => clock.sleep(agentMs);
/** A quiet pause between scenarios, at the fast speed. */
async function pause(agentMs: number): Promise<void> {
  const speed = SPEED;
  setSpeed(HOUR_SPEED);
  await wait(agentMs);
  setSpeed(speed);
}

// ---- The sandbox, in its own process, as an API server would be.
const names = Array.from({ length: N }, (_, i) => `aks-pool-${String(i).padStart(5, '0')}`);
const dir = mkdtempSync(join(tmpdir(), 'imds-labeler-fleet-'));
const sandbox = await startSandboxProcess({ nodes: names, dir });
const kc = await loadKubeConfig(sandbox.kubeconfig);
/** One client for every simulated agent's writes (client-node opens a connection per request). */
const api = createClientNodeNodeClient({ component: 'imds-labeler' }, kc);
const watcher = new Watch(kc);

// ---- IMDS: one document per node; the value of the tag `release` is the fleet-wide generation.
const base = builtInFixture('default') as { compute: Record<string, unknown> };
let generation = 'v1';
const documentFor = (name: string, i: number, cache: Map<string, InstanceDocument>): InstanceDocument => {
  let doc = cache.get(generation);
  if (!doc) {
    cache.clear();
    doc = parseInstanceDocument({
      compute: { ...base.compute, name, platformFaultDomain: String(i % 3), platformUpdateDomain: String(i % 5), tagsList: [{ name: 'release', value: generation }], tags: `release:${generation}` },
    });
    cache.set(generation, doc);
  }
  return doc;
};

// ---- Reads: one informer, fanned out per node.
const cache = new Map<string, NodeMeta>();
let cacheVersion = '0';
const watchers = new Map<string, Set<{ handlers: WatchHandlers; end: (e: WatchEnd) => void }>>();
type Kind = 'list' | 'watch' | 'patch' | 'event';
/** Agent time of every request the simulated agents send, by kind. */
let requests: { at: number; kind: Kind }[] = [];
let refused = false;

async function runInformer(signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      const list = await api.list({ signal });
      cache.clear();
      releases.clear();
      for (const n of list.nodes) {
        cache.set(n.name, n);
        count(n, +1);
      }
      cacheVersion = list.resourceVersion;
      await new Promise<void>((resolve) => {
        void watcher
          .watch(
            '/api/v1/nodes',
            { resourceVersion: cacheVersion, timeoutSeconds: 3600 },
            (type: string, object: unknown) => {
              if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
              const node = toNodeMeta(object as never);
              cacheVersion = node.resourceVersion;
              count(cache.get(node.name), -1);
              if (type === 'DELETED') cache.delete(node.name);
              else cache.set(node.name, node);
              count(cache.get(node.name), +1);
              for (const w of watchers.get(node.name) ?? []) w.handlers.onEvent(type, structuredClone(node));
            },
            () => resolve(),
          )
          .then(
            (controller) => signal.addEventListener('abort', () => controller.abort(), { once: true }),
            () => resolve(),
          );
      });
    } catch {
      // The API is refusing connections: try again shortly (this is the benchmark's view, not an agent's).
    }
    if (!signal.aborted) await new Promise((r) => setTimeout(r, 100));
  }
}

/** Nodes per value of the label the fleet changes (what convergence waits on). */
const RELEASE = 'tags.imds-labeler.io/release';
const releases = new Map<string, number>();
function count(node: NodeMeta | undefined, delta: number): void {
  const value = node?.labels[RELEASE];
  if (value !== undefined) releases.set(value, (releases.get(value) ?? 0) + delta);
}

const refusedError = () => new KubeError('network', 'cannot reach the Kubernetes API: ECONNREFUSED');

/** A simulated agent's NodeClient: reads from the informer (counted), writes over HTTP. */
function agentClient(): NodeClient {
  return {
    async list({ name } = {}) {
      requests.push({ at: agentNow(), kind: 'list' });
      if (refused) throw refusedError();
      const node = name ? cache.get(name) : undefined;
      return { nodes: node ? [structuredClone(node)] : [], resourceVersion: cacheVersion };
    },
    watch(name: string, options: WatchOptions, handlers: WatchHandlers) {
      requests.push({ at: agentNow(), kind: 'watch' });
      if (refused) return Promise.resolve<WatchEnd>({ reason: 'error', error: refusedError() });
      return new Promise<WatchEnd>((resolve) => {
        const set = watchers.get(name) ?? new Set();
        watchers.set(name, set);
        const timeout = new AbortController();
        const entry = {
          handlers,
          end: (e: WatchEnd) => {
            if (!set.delete(entry)) return;
            timeout.abort();
            resolve(e);
          },
        };
        set.add(entry);
        // A change the agent has not seen yet (newer than its resourceVersion) is replayed, as the
        // API server's watch cache would.
        const current = cache.get(name);
        if (current && BigInt(current.resourceVersion || 0) > BigInt(options.resourceVersion || 0)) handlers.onEvent('MODIFIED', structuredClone(current));
        // The server closes the watch after timeoutSeconds.
        void clock.sleep(options.timeoutSeconds * 1000, timeout.signal).then(
          () => entry.end({ reason: 'closed' }),
          () => undefined,
        );
        options.signal.addEventListener('abort', () => entry.end({ reason: 'closed' }), { once: true });
      });
    },
    // While the API server refuses connections (it does, for real: the informer sees it), a write
    // fails at once with the error the real client raises, without opening a socket: tens of
    // thousands of refused connections would take the CPU the simulated agents need.
    async patch(name, patch, signal) {
      requests.push({ at: agentNow(), kind: 'patch' });
      if (refused) throw refusedError();
      return api.patch(name, patch, signal);
    },
    async event(node, event) {
      requests.push({ at: agentNow(), kind: 'event' });
      if (refused) throw refusedError();
      return api.event(node, event);
    },
  };
}

// ---- The fleet.
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();
const stop = new AbortController();
const informer = runInformer(stop.signal);
while (cache.size < N) await new Promise((r) => setTimeout(r, 50));
const labels = configSchema.parse({}).labels;
const policy = reconcilePolicy(labels);
const origin0 = agentNow();
const logger = silentLogger();
const loops: Promise<void>[] = [];
for (const [i, name] of names.entries()) {
  const client = agentClient();
  const random = Math.random;
  // Each agent its own signal, as each process has: one signal shared by 5,000 agents would
  // carry tens of thousands of listeners, and EventTarget is not made for that.
  const own = new AbortController();
  stop.signal.addEventListener('abort', () => own.abort(), { once: true });
  const signal = own.signal;
  const syncer = new NodeSyncer({ client, nodeName: name, policy, clock, random, logger, dryRun: false, events: true, signal });
  const docs = new Map<string, InstanceDocument>();
  // Rendered once per document (the IMDS side is not what this measures), with agent.ts's key.
  const rendered = new WeakMap<InstanceDocument, { desired: Desired; key: string }>();
  let lastDesired = '';
  loops.push(
    runNodeWatch({ client, name, watchTimeoutMs: WATCH_TIMEOUT_MS, clock, random, signal, logger, onNode: (n) => syncer.setObserved(n) }),
    runPoller({
      fetch: async () => documentFor(name, i, docs),
      periodMs: PERIOD_MS,
      jitter: JITTER,
      // A fleet that has run for a while polls at random phases, not all at once.
      initialDelayMs: Math.random() * PERIOD_MS,
      clock,
      random,
      signal,
      // As src/agent.ts: render, and hand the syncer a desired state only when it changed.
      onDocument: (doc) => {
        let r = rendered.get(doc);
        if (!r) {
          const desired = render(doc, labels);
          rendered.set(doc, (r = { desired, key: JSON.stringify([desired.labels, desired.annotations]) }));
        }
        if (r.key !== lastDesired) {
          lastDesired = r.key;
          syncer.setDesired(r.desired);
        }
      },
      onError: () => undefined,
    }),
    // As src/agent.ts: a reconcile against the cached node now and then (no API request).
    (async () => {
      while (!signal.aborted) {
        await clock.sleep(jittered(RESYNC_MS, 0.2, random), signal).catch(() => undefined);
        if (!signal.aborted) syncer.resync();
      }
    })(),
  );
}

// ---- Measuring.
const labelled = (value: string) => releases.get(value) ?? 0;
/** Requests per agent-second: peak, mean over [from, to), and a histogram of `bucketS` buckets. */
function rate(kinds: Kind[], from: number, to: number, bucketS = 1) {
  const perSecond = new Array<number>(Math.max(1, Math.ceil((to - from) / 1000))).fill(0);
  let total = 0;
  for (const r of requests) {
    if (!kinds.includes(r.kind) || r.at < from || r.at >= to) continue;
    perSecond[Math.floor((r.at - from) / 1000)]!++;
    total++;
  }
  const buckets = Array.from({ length: Math.ceil(perSecond.length / bucketS) }, (_, i) => perSecond.slice(i * bucketS, (i + 1) * bucketS).reduce((a, b) => a + b, 0));
  return { total, peak: Math.max(...perSecond), mean: total / ((to - from) / 1000), buckets };
}
const cpu = () => ({ fleet: cpuSeconds(process.pid), sandbox: cpuSeconds(sandbox.pid) });
const out: string[] = [];
const line = (s = '') => {
  out.push(s);
  console.log(s);
};

line(`fleet: ${N} simulated agents against one sandbox; polls every ${PERIOD_MS / 1000} s ±${JITTER * 100} %, watches ${WATCH_TIMEOUT_MS / 60_000}–${(2 * WATCH_TIMEOUT_MS) / 60_000} min; time x${SPEED} (steady hour x${HOUR_SPEED})`);
await until('first labels on every node', () => labelled('v1') === N, 900_000, 20);
const startup = agentNow() - origin0;
line(`start-up: every node labelled ${fixed(startup / 1000)} s (agent time) after the agents started; fleet event-loop delay p99 ${fixed(lag.percentile(99) / 1e6)} ms`);
await pause(2 * PERIOD_MS);

// ---- Scenario 1: a tag changes on every VM at once.
await sandbox.resetCounters();
lag.reset();
let c0 = cpu();
requests = [];
generation = 'v2';
const t1 = agentNow();
await until('every node to carry the new tag', () => labelled('v2') === N, 900_000, 20);
const converged1 = agentNow() - t1;
await wait(PERIOD_MS / 2);
let k = await sandbox.counters();
const w1 = rate(['patch'], t1, t1 + converged1 + 1000);
const expectedPeak = N / PERIOD_MS * 1000;
line();
line(`scenario 1 — the tag changes on all ${N} VMs at once`);
line(`  converged in ${fixed(converged1 / 1000)} s (bound: one poll period plus jitter, ${(PERIOD_MS * (1 + JITTER)) / 1000} s)`);
line(`  node writes ${k.byVerbResource['patch nodes'] ?? 0}: ${(k.byVerbResource['patch nodes'] ?? 0) === N ? 'exactly one per changed node' : 'NOT one per node'}; plus ${k.byVerbResource['create events'] ?? 0} Events (LabelsUpdated)`);
line(`  node write rate: peak ${w1.peak}/s, mean ${fixed(w1.mean)}/s over the convergence; model: flat at N/P = ${fixed(expectedPeak)}/s, peak 1 s bucket ~${fixed(expectedPeak + 3 * Math.sqrt(expectedPeak))}/s`);
line(`  writes per 10 s: ${rate(['patch'], t1, t1 + converged1 + 1000, 10).buckets.join(' ')}`);
line(`  CPU s: fleet ${fixed(cpu().fleet - c0.fleet)}, sandbox ${fixed(cpu().sandbox - c0.sandbox)}; fleet event-loop delay p99 ${fixed(lag.percentile(99) / 1e6)} ms`);

// ---- Scenario 2: the API server refuses connections for 60 s, then recovers.
await pause(PERIOD_MS);
await sandbox.resetCounters();
lag.reset();
c0 = cpu();
requests = [];
const t2 = agentNow();
refused = true;
// The server drops every connection: each watch ends with an error.
for (const set of watchers.values()) for (const w of [...set]) w.end({ reason: 'error', error: new KubeError('network', 'ECONNRESET') });
await sandbox.setFaults({ refuse: { forMs: Math.round(OUTAGE_MS / SPEED), mode: 'close' } });
generation = 'v3'; // every agent gets something to write during the outage
await wait(OUTAGE_MS);
refused = false;
const recovered = agentNow();
await until('every node to carry the tag set during the outage', () => labelled('v3') === N, 900_000, 20);
const converged2 = agentNow() - recovered;
await wait(PERIOD_MS / 2);
k = await sandbox.counters();
const after = agentNow();
const all2 = rate(['list', 'watch', 'patch', 'event'], recovered, after);
const reads2 = rate(['list', 'watch'], recovered, after, 5);
const writes2 = rate(['patch'], recovered, after, 5);
const during = rate(['list', 'watch', 'patch', 'event'], t2, recovered);
line();
line(`scenario 2 — the API server refuses connections for ${OUTAGE_MS / 1000} s (the tag changes meanwhile), then recovers`);
line(`  during the outage: ${during.total} attempts (${fixed(during.total / N)} per agent, ${fixed(during.mean)}/s)`);
line(`  after recovery: requests peak ${all2.peak}/s, mean ${fixed(all2.mean)}/s; every node converged ${fixed(converged2 / 1000)} s after`);
line(`  reads (list+watch) per 5 s: ${reads2.buckets.join(' ')}`);
line(`  node writes per 5 s:        ${writes2.buckets.join(' ')}`);
line(`  no thundering herd: the peak second carries ${fixed((100 * all2.peak) / Math.max(1, all2.total))} % of the ${all2.total} requests (without jitter: all ${N} agents' retries in the same instant)`);
line(`  node writes ${k.byVerbResource['patch nodes'] ?? 0} for ${N} changed nodes (${(k.byVerbResource['patch nodes'] ?? 0) === N ? 'exactly one each' : 'retries included'})`);
line(`  CPU s: fleet ${fixed(cpu().fleet - c0.fleet)}, sandbox ${fixed(cpu().sandbox - c0.sandbox)}; fleet event-loop delay p99 ${fixed(lag.percentile(99) / 1e6)} ms`);

// ---- Scenario 3: steady state for an hour of agent time.
await pause(PERIOD_MS);
await sandbox.resetCounters();
requests = [];
lag.reset();
c0 = cpu();
setSpeed(HOUR_SPEED);
const t3 = agentNow();
await wait(3_600_000);
const hour = agentNow() - t3;
k = await sandbox.counters();
const reads3 = requests.filter((r) => r.kind === 'list' || r.kind === 'watch');
const lists3 = reads3.filter((r) => r.kind === 'list').length;
line();
line(`scenario 3 — steady state for ${fixed(hour / 3_600_000)} h of agent time (x${HOUR_SPEED})`);
line(`  API writes: ${k.writes}; reads by the agents: ${reads3.length} (${lists3} lists, ${reads3.length - lists3} watches) = ${fixed(reads3.length / N / (hour / 3_600_000))} per node-hour (model: one watch per mean timeout, 3600/450 = 8)`);
line(`  ${N} nodes: ${fixed(reads3.length / (hour / 1000))} reads/s on the API server, ${k.writes} writes`);
line(`  CPU s: fleet ${fixed(cpu().fleet - c0.fleet)}, sandbox ${fixed(cpu().sandbox - c0.sandbox)}; fleet event-loop delay p99 ${fixed(lag.percentile(99) / 1e6)} ms`);
line();
line(`memory: the simulation process ${fixed(memory(process.pid).peakMiB)} MiB peak (${N} agents, client-node and undici included), the sandbox ${fixed(memory(sandbox.pid).peakMiB)} MiB peak`);
line(`wall time: ${fixed((performance.now() - started) / 1000)} s`);

stop.abort();
await Promise.allSettled([informer, ...loops]);
await sandbox.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
