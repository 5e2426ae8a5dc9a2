/**
 * npm run bench:fleet — thousands of agents against one sandbox API server, in accelerated time.
 *
 * What is real. Each simulated agent is the product's own wiring, startAgentLoops from
 * src/agent/loops.ts, with the deployed config (chart defaults): the poller, render and its
 * change detection, the node watch, the syncer, the resync, the start spread. Every request an
 * agent makes to the Kubernetes API goes over HTTP to the sandbox, which runs in a process of its
 * own as an API server would, through @kubernetes/client-node: each agent's list, its watch (one
 * open stream per node), its patches and its Events. The sandbox counts them as they arrive, and
 * the benchmark reads those counts every wall-clock tick. An outage is the sandbox really
 * refusing connections: every attempt opens a socket and is refused.
 *
 * What is simulated.
 *   - IMDS: each agent's fetch returns an in-process document (its VM's, with a `release` tag the
 *     benchmark changes fleet-wide); no IMDS request is sent. The IMDS side is what `npm run
 *     bench` measures, against the emulator over HTTP.
 *   - Processes: the agents share one process, one event loop and one HTTP client, not one
 *     process and one connection pool each; no metrics registry per agent.
 *   - Time: agent time runs faster than the wall clock (--speed, --hour-speed) on one injected
 *     clock; every figure is in agent time. The sandbox keeps wall time, so a watch's server-side
 *     timeout would last SPEED times too long in agent time: the benchmark ends each watch after
 *     its timeoutSeconds of agent time instead, as the API server would at agent speed.
 *
 * Usage: npm run bench:fleet -- [--nodes 1000] [--speed 2] [--hour-speed 60]
 *   --speed: agent time per wall second while agents write (start-up, scenarios 2 and 3); the
 *   fleet process must keep up (its event-loop delay is reported) or rates come out in bursts.
 *   --hour-speed: for the quiet steady-state hour and the pauses between scenarios.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { MAX_START_SPREAD_MS, startAgentLoops, startSpreadMs, type AgentLoops } from '../../src/agent/loops.ts';
import { configSchema } from '../../src/config/schema.ts';
import { parseInstanceDocument, type InstanceDocument } from '../../src/imds/document.ts';
import { createClientNodeNodeClient, loadKubeConfig } from '../../src/kube/clientNode.ts';
import type { NodeClient } from '../../src/kube/nodeClient.ts';
import type { NodeMeta } from '../../src/kube/types.ts';
import { createLogger, silentLogger } from '../../src/observability/logger.ts';
import { builtInFixture } from '../../testbed/imds-emulator/fixtures.ts';
import { cpuSeconds, memory } from './lib/proc.ts';
import { startSandboxProcess } from './lib/sandboxProcess.ts';
import { fixed } from './lib/stats.ts';
import { ScaledClock } from '../helpers/fakeClock.ts';
import { waitFor } from '../helpers/wait.ts';

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '1000' }, speed: { type: 'string', default: '2' }, 'hour-speed': { type: 'string', default: '60' } } });
const N = Number(values.nodes);
let SPEED = Number(values.speed);
const HOUR_SPEED = Math.max(SPEED, Number(values['hour-speed']));
/** The deployed settings: the chart's defaults, which are the config schema's. */
const config = configSchema.parse({});
const PERIOD_MS = config.poll.period;
const JITTER = config.poll.jitter;
const WATCH_TIMEOUT_MS = config.kube.watchTimeout;
const OUTAGE_MS = 60_000;
const started = performance.now();
/** FLEET_LOG=warn shows what the agents log (they are silent otherwise). */
const logger = process.env.FLEET_LOG ? createLogger({ level: process.env.FLEET_LOG as 'warn', format: 'json' }) : silentLogger();

// ---- Time: agent time runs SPEED times faster than the wall clock, and the speed may change
// while sleeps are pending (the steady-state hour runs faster).
const clock = new ScaledClock(SPEED);
const agentNow = () => clock.now();
function setSpeed(speed: number): void {
  clock.setFactor(speed);
  SPEED = speed;
}
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
/** One client-node client for every agent (an agent process would have one each). */
const api = createClientNodeNodeClient({ component: 'imds-labeler' }, await loadKubeConfig({ kubeconfig: sandbox.kubeconfig, env: {} }));

// ---- IMDS: one document per VM; the value of the tag `release` is the fleet-wide generation.
const base = builtInFixture('default') as { compute: Record<string, unknown> };
let generation = 'v1';
function documentFor(name: string, i: number, cache: Map<string, InstanceDocument>): InstanceDocument {
  let doc = cache.get(generation);
  if (!doc) {
    cache.clear();
    doc = parseInstanceDocument({
      compute: { ...base.compute, name, platformFaultDomain: String(i % 3), platformUpdateDomain: String(i % 5), tagsList: [{ name: 'release', value: generation }], tags: `release:${generation}` },
    });
    cache.set(generation, doc);
  }
  return doc;
}

// ---- What the agents send, as they send it, and what they see of their nodes.
type Kind = 'list' | 'watch' | 'patch' | 'event';
/** Agent time of every request the agents send, by kind. */
let requests: { at: number; kind: Kind }[] = [];
/** The `release` tag as each agent last saw it on its node (list, watch event or patch answer). */
const RELEASE = 'tags.imds-labeler.io/release';
const seen = new Map<string, string | undefined>();
const releases = new Map<string, number>();
function observe(node: NodeMeta): void {
  const before = seen.get(node.name);
  const now = node.labels[RELEASE];
  if (before === now) return;
  if (before !== undefined) releases.set(before, (releases.get(before) ?? 0) - 1);
  if (now !== undefined) releases.set(now, (releases.get(now) ?? 0) + 1);
  seen.set(node.name, now);
}
const labelled = (value: string) => releases.get(value) ?? 0;

/** An agent's NodeClient: the shared client-node client, with every request recorded. */
function agentClient(): NodeClient {
  return {
    async list(options) {
      requests.push({ at: agentNow(), kind: 'list' });
      const list = await api.list(options);
      for (const n of list.nodes) observe(n);
      return list;
    },
    async watch(name, options, handlers) {
      requests.push({ at: agentNow(), kind: 'watch' });
      // The server's timeout, on agent time (see the header).
      const timeout = new AbortController();
      const signal = AbortSignal.any([options.signal, timeout.signal]);
      void clock.sleep(options.timeoutSeconds * 1000, signal).then(
        () => timeout.abort(),
        () => undefined,
      );
      try {
        return await api.watch(name, { ...options, signal }, {
          onEvent: (type, node) => {
            observe(node);
            handlers.onEvent(type, node);
          },
          onBookmark: (rv) => handlers.onBookmark(rv),
        });
      } finally {
        timeout.abort();
      }
    },
    async patch(name, patch, signal) {
      requests.push({ at: agentNow(), kind: 'patch' });
      const node = await api.patch(name, patch, signal);
      observe(node);
      return node;
    },
    async patchStatus(name, patch, signal) {
      requests.push({ at: agentNow(), kind: 'patch' });
      const node = await api.patchStatus(name, patch, signal);
      observe(node);
      return node;
    },
    async event(node, event) {
      requests.push({ at: agentNow(), kind: 'event' });
      return api.event(node, event);
    },
  };
}

// ---- Requests per agent-second as the sandbox counts them: its counters, read every wall tick.
const arrivals: { at: number; total: number }[] = [];
let stopSampling = false;
const sampler = (async () => {
  while (!stopSampling) {
    try {
      const c = await sandbox.counters();
      arrivals.push({ at: agentNow(), total: c.total });
    } catch {
      // Refusing connections (the outage): nothing arrives, and the next read says so.
    }
    await new Promise((r) => setTimeout(r, 250));
  }
})();
/** Peak and mean arrivals per agent-second at the sandbox over [from, to). */
function arrivalRate(from: number, to: number): { total: number; peak: number; mean: number } {
  const inside = arrivals.filter((a) => a.at >= from && a.at < to);
  let peak = 0;
  // Over windows of at least one agent-second between two reads of the counters.
  for (let i = 1, j = 0; i < inside.length; i++) {
    while (j + 1 < i && inside[i]!.at - inside[j + 1]!.at >= 1000) j++;
    const dt = (inside[i]!.at - inside[j]!.at) / 1000;
    if (dt >= 1) peak = Math.max(peak, (inside[i]!.total - inside[j]!.total) / dt);
  }
  const total = inside.length > 1 ? inside.at(-1)!.total - inside[0]!.total : 0;
  return { total, peak, mean: total / ((to - from) / 1000) };
}

/** Requests the agents sent per agent-second: peak, mean over [from, to), and `bucketS` buckets. */
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
const line = (s = '') => console.log(s);
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();
const footer = (c0: { fleet: number; sandbox: number }) =>
  line(`  CPU s: fleet ${fixed(cpu().fleet - c0.fleet)}, sandbox ${fixed(cpu().sandbox - c0.sandbox)}; fleet event-loop delay p99 ${fixed(lag.percentile(99) / 1e6)} ms`);

line(`fleet: ${N} agents (the product's loops, src/agent/loops.ts) against one sandbox API server in its own process; polls every ${PERIOD_MS / 1000} s ±${JITTER * 100} %, watches ${WATCH_TIMEOUT_MS / 60_000}–${(2 * WATCH_TIMEOUT_MS) / 60_000} min; time x${SPEED} (steady hour x${HOUR_SPEED})`);
line('  real: every list, watch, patch and Event over HTTP to the sandbox, counted where it arrives; refused connections in the outage');
line('  simulated: IMDS (an in-process document per VM), one process and one HTTP client for all agents, accelerated time (watches end on agent time)');

// ---- Start-up: a whole node pool created at once; every agent starts in the same instant.
lag.reset();
let c0 = cpu();
const t0 = agentNow();
const agents: AgentLoops[] = names.map((name, i) => {
  const docs = new Map<string, InstanceDocument>();
  return startAgentLoops(config, { nodeName: name, nodeClient: agentClient(), fetchInstance: async () => documentFor(name, i, docs), logger, clock, random: Math.random });
});
await waitFor('first labels on every node', () => labelled('v1') === N, { timeoutMs: 900_000, everyMs: 20 });
const startup = agentNow() - t0;
await wait(5_000);
const start = rate(['list', 'watch', 'patch', 'event'], t0, t0 + startup + 1000);
const startArrivals = arrivalRate(t0, agentNow());
line();
line(`start-up in lockstep: all ${N} agents started in the same instant (a node pool created at once)`);
line(`  every node labelled ${fixed(startup / 1000)} s after the start (the first list waits the start spread, up to ${startSpreadMs(config.poll) / 1000} s; the first IMDS fetch does not wait)`);
line(`  requests sent per agent-second: peak ${start.peak}, mean ${fixed(start.mean)}; per second: ${start.buckets.join(' ')}`);
line(`  at the sandbox: ${startArrivals.total} requests, peak ${fixed(startArrivals.peak, 0)}/s; without the spread all ${3 * N} lists, watches and patches would leave in the same instant (the spread caps it near 3·N/${MAX_START_SPREAD_MS / 1000} s = ${fixed((3 * N) / (MAX_START_SPREAD_MS / 1000), 0)}/s)`);
footer(c0);

// ---- Scenario 1: steady state for an hour of agent time; the polls' phases drift apart meanwhile.
await sandbox.resetCounters();
requests = [];
lag.reset();
c0 = cpu();
setSpeed(HOUR_SPEED);
const t1 = agentNow();
await wait(3_600_000);
const hour = agentNow() - t1;
setSpeed(Number(values.speed));
let k = await sandbox.counters();
const reads1 = requests.filter((r) => r.kind === 'list' || r.kind === 'watch');
const lists1 = reads1.filter((r) => r.kind === 'list').length;
line();
line(`scenario 1 — steady state for ${fixed(hour / 3_600_000)} h of agent time (x${HOUR_SPEED})`);
line(`  API writes at the sandbox: ${k.writes}; reads sent by the agents: ${reads1.length} (${lists1} lists, ${reads1.length - lists1} watches) = ${fixed(reads1.length / N / (hour / 3_600_000))} per node-hour (model: one watch per mean timeout, 3600/${(1.5 * WATCH_TIMEOUT_MS) / 1000} = ${fixed(3_600_000 / (1.5 * WATCH_TIMEOUT_MS))}); the sandbox counted ${k.total}`);
line(`  ${N} nodes: ${fixed(reads1.length / (hour / 1000))} reads/s on the API server, ${k.writes} writes`);
footer(c0);

// ---- Scenario 2: a tag changes on every VM at once.
await sandbox.resetCounters();
lag.reset();
c0 = cpu();
requests = [];
generation = 'v2';
const t2 = agentNow();
await waitFor('every node to carry the new tag', () => labelled('v2') === N, { timeoutMs: 900_000, everyMs: 20 });
const converged2 = agentNow() - t2;
await wait(PERIOD_MS / 2);
k = await sandbox.counters();
const w2 = rate(['patch'], t2, t2 + converged2 + 1000);
const expectedPeak = (N / PERIOD_MS) * 1000;
line();
line(`scenario 2 — the tag changes on all ${N} VMs at once`);
line(`  converged in ${fixed(converged2 / 1000)} s (bound: one poll period plus jitter, ${(PERIOD_MS * (1 + JITTER)) / 1000} s)`);
line(`  node writes at the sandbox ${k.byVerbResource['patch nodes'] ?? 0}: ${(k.byVerbResource['patch nodes'] ?? 0) === N ? 'exactly one per changed node' : 'NOT one per node'}; plus ${k.byVerbResource['create events'] ?? 0} Events (LabelsUpdated)`);
line(`  node write rate: peak ${w2.peak}/s, mean ${fixed(w2.mean)}/s over the convergence; model: flat at N/P = ${fixed(expectedPeak)}/s, peak 1 s bucket ~${fixed(expectedPeak + 3 * Math.sqrt(expectedPeak))}/s`);
line(`  writes per 10 s: ${rate(['patch'], t2, t2 + converged2 + 1000, 10).buckets.join(' ')}`);
footer(c0);

// ---- Scenario 3: the API server refuses connections for 60 s, then recovers.
await pause(PERIOD_MS);
await sandbox.resetCounters();
lag.reset();
c0 = cpu();
requests = [];
const t3 = agentNow();
// The sandbox drops every open connection (each watch ends with an error) and stops listening.
await sandbox.setFaults({ refuse: { forMs: Math.round(OUTAGE_MS / SPEED), mode: 'close' } });
generation = 'v3'; // every agent gets something to write during the outage
await wait(OUTAGE_MS);
const recovered = agentNow();
await waitFor('every node to carry the tag set during the outage', () => labelled('v3') === N, { timeoutMs: 900_000, everyMs: 20 });
const converged3 = agentNow() - recovered;
await wait(PERIOD_MS / 2);
k = await sandbox.counters();
const after = agentNow();
const all3 = rate(['list', 'watch', 'patch', 'event'], recovered, after);
const reads3 = rate(['list', 'watch'], recovered, after, 5);
const writes3 = rate(['patch'], recovered, after, 5);
const during = rate(['list', 'watch', 'patch', 'event'], t3, recovered);
const arrivals3 = arrivalRate(recovered, after);
line();
line(`scenario 3 — the API server refuses connections for ${OUTAGE_MS / 1000} s (the tag changes meanwhile), then recovers`);
line(`  during the outage: ${during.total} attempts, each a refused connection (${fixed(during.total / N)} per agent, ${fixed(during.mean)}/s)`);
line(`  after recovery: requests sent peak ${all3.peak}/s, mean ${fixed(all3.mean)}/s; at the sandbox peak ${fixed(arrivals3.peak, 0)}/s; every node converged ${fixed(converged3 / 1000)} s after`);
line(`  reads (list+watch) per 5 s: ${reads3.buckets.join(' ')}`);
line(`  node writes per 5 s:        ${writes3.buckets.join(' ')}`);
line(`  no thundering herd: the peak second carries ${fixed((100 * all3.peak) / Math.max(1, all3.total))} % of the ${all3.total} requests (without jitter: all ${N} agents' retries in the same instant)`);
line(`  node writes at the sandbox ${k.byVerbResource['patch nodes'] ?? 0} for ${N} changed nodes (${(k.byVerbResource['patch nodes'] ?? 0) === N ? 'exactly one each' : 'retries included'})`);
footer(c0);

line();
line(`memory: the fleet process ${fixed(memory(process.pid).peakMiB)} MiB peak (${N} agents, client-node and its ${N} open watches included), the sandbox ${fixed(memory(sandbox.pid).peakMiB)} MiB peak`);
line(`wall time: ${fixed((performance.now() - started) / 1000)} s`);

stopSampling = true;
await Promise.allSettled([sampler, ...agents.map((a) => a.stop())]);
await sandbox.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
