/**
 * npm run bench:fleet — a fleet of agents against one API server, in accelerated time: the
 * sandbox (default) or, with --apiserver real, a real kube-apiserver and etcd.
 *
 * What is real. Each simulated agent is the product's own wiring, startAgentLoops from
 * src/agent/loops.ts, with the deployed config (chart defaults): the poller, render and its
 * change detection, the node watch, the syncer, the resync, the start spread. Every request an
 * agent makes to the Kubernetes API goes over HTTP to the API server under test
 * (test/fleet/apiServer.ts), which runs in processes of its own, through the product's client:
 * each agent's list, its watch (one open stream per node), its patches and its Events. The
 * server counts them as they arrive: the sandbox its counters, kube-apiserver its own
 * apiserver_request_total, read from /metrics (by response code too). The benchmark reads them
 * every few wall-clock ticks and before and after each scenario. An outage is the sandbox really
 * refusing connections, or kube-apiserver stopped and started again on the same port.
 *
 * What is simulated.
 *   - IMDS: each agent's fetch returns an in-process document (its VM's, with a `release` tag the
 *     benchmark changes fleet-wide); no IMDS request is sent. The IMDS side is what `npm run
 *     bench` measures, against the emulator over HTTP.
 *   - Processes: the agents share one process, one event loop and one HTTP client, not one
 *     process and one connection pool each; no metrics registry per agent; one identity (the
 *     admin's on the real server, in the exempt priority level: no node authorizer, no
 *     NodeRestriction, no flow control between agents).
 *   - Time: agent time runs faster than the wall clock (--speed, --hour-speed) on one injected
 *     clock; every figure is in agent time. The API server keeps wall time, so a watch's
 *     server-side timeout would last SPEED times too long in agent time: the benchmark ends each
 *     watch after its timeoutSeconds of agent time instead, as the API server would at agent
 *     speed (test/fleet/agents.ts). Wall-clock work of the server (a restart, its answers)
 *     lasts SPEED times longer in agent time.
 *
 * Usage: npm run bench:fleet -- [--apiserver sandbox|real] [--nodes 1000] [--speed 2] [--hour-speed 60]
 *   --speed: agent time per wall second while agents write (start-up, scenarios 2 and 3); the
 *   fleet process must keep up (its event-loop delay is reported) or rates come out in bursts.
 *   --hour-speed: for the quiet steady-state hour and the pauses between scenarios.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { MAX_START_SPREAD_MS, startSpreadMs } from '../../src/agent/loops.ts';
import { configSchema } from '../../src/config/schema.ts';
import { createLogger, silentLogger } from '../../src/observability/logger.ts';
import { startApiServer, type ApiServerKind } from '../fleet/apiServer.ts';
import { startFleet, type SentKind } from '../fleet/agents.ts';
import { countTable, countedFor, firstLabels, mismatches, outage, steadyState, tagChange, type FleetContext, type ScenarioResult } from '../fleet/scenarios.ts';
import { cpuSeconds, memory } from '../helpers/proc.ts';
import { fixed } from '../helpers/stats.ts';
import { ScaledClock } from '../helpers/fakeClock.ts';

const { values } = parseArgs({
  options: { apiserver: { type: 'string', default: 'sandbox' }, nodes: { type: 'string', default: '1000' }, speed: { type: 'string', default: '2' }, 'hour-speed': { type: 'string', default: '60' } },
});
if (values.apiserver !== 'sandbox' && values.apiserver !== 'real') throw new Error(`--apiserver ${values.apiserver}: sandbox or real`);
const KIND: ApiServerKind = values.apiserver;
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

// ---- The API server under test, in processes of its own, with the fleet's nodes registered.
const names = Array.from({ length: N }, (_, i) => `aks-pool-${String(i).padStart(5, '0')}`);
const seeding = performance.now();
const server = await startApiServer(KIND, names);
const seededS = (performance.now() - seeding) / 1000;
const fleet = await startFleet({ server, names, config, clock, logger });
const ctx: FleetContext = { server, fleet, clock };

// ---- Requests per agent-second as the server counts them: its counters, read every few wall ticks.
const arrivals: { at: number; total: number }[] = [];
let stopSampling = false;
const sampler = (async () => {
  while (!stopSampling) {
    try {
      const c = await server.counts();
      arrivals.push({ at: agentNow(), total: Object.values(c).reduce((a, b) => a + b, 0) });
    } catch {
      // Unreachable (the outage): nothing arrives, and the next read says so.
    }
    await new Promise((r) => setTimeout(r, server.countsEveryMs));
  }
})();
/** Peak and mean arrivals per agent-second at the server over [from, to). */
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

const ALL: SentKind[] = ['LIST nodes', 'WATCH nodes', 'PATCH nodes', 'PATCH nodes/status', 'POST events'];
const PATCHES: SentKind[] = ['PATCH nodes', 'PATCH nodes/status'];
/** Requests the agents sent per agent-second: peak, mean over [from, to), and `bucketS` buckets. */
function rate(kinds: SentKind[], from: number, to: number, bucketS = 1) {
  const perSecond = new Array<number>(Math.max(1, Math.ceil((to - from) / 1000))).fill(0);
  let total = 0;
  for (const r of fleet.sent) {
    if (!kinds.includes(r.kind) || r.at < from || r.at >= to) continue;
    perSecond[Math.floor((r.at - from) / 1000)]!++;
    total++;
  }
  const buckets = Array.from({ length: Math.ceil(perSecond.length / bucketS) }, (_, i) => perSecond.slice(i * bucketS, (i + 1) * bucketS).reduce((a, b) => a + b, 0));
  return { total, peak: Math.max(...perSecond), mean: total / ((to - from) / 1000), buckets };
}
const writesAt = (r: ScenarioResult) => Object.entries(r.counted).reduce((sum, [k, n]) => (/^(POST|PUT|PATCH|DELETE)/.test(k) ? sum + n : sum), 0);
const cpu = (): Record<string, number> => ({ fleet: cpuSeconds(process.pid), ...server.cpuSeconds() });
const line = (s = '') => console.log(s);
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();
const footer = (c0: Record<string, number>) => {
  const c = cpu();
  const parts = Object.keys(c).map((k) => `${k} ${fixed(c[k]! - (c0[k] ?? 0))}`);
  line(`  CPU s: ${parts.join(', ')}; fleet event-loop delay p99 ${fixed(lag.percentile(99) / 1e6)} ms`);
};
const results: ScenarioResult[] = [];
const counts = (r: ScenarioResult) => {
  results.push(r);
  line(`  request counts at the API server over the scenario (${r.name}, ${fixed((r.to - r.from) / 1000)} s of agent time):`);
  for (const l of countTable(r)) line(l);
};

line(`fleet: ${N} agents (the product's loops, src/agent/loops.ts) against ${server.description}; polls every ${PERIOD_MS / 1000} s ±${JITTER * 100} %, watches ${WATCH_TIMEOUT_MS / 60_000}–${(2 * WATCH_TIMEOUT_MS) / 60_000} min; time x${SPEED} (steady hour x${HOUR_SPEED})`);
if (KIND === 'real') {
  line(`  real: kube-apiserver over HTTPS with etcd behind it; every list, watch, patch and Event counted by its own apiserver_request_total (read every ${server.countsEveryMs / 1000} s wall; a WATCH counts when it ends); the outage stops and restarts kube-apiserver; ${N} nodes registered through the API in ${fixed(seededS)} s (create + status, as a kubelet)`);
  line("  simulated: IMDS (an in-process document per VM), one process, one HTTP client and one identity (the admin's, exempt from flow control) for all agents, accelerated time: the benchmark ends each watch after its timeoutSeconds of agent time, as the API server would at agent speed");
} else {
  line('  real: every list, watch, patch and Event over HTTP to the sandbox, counted where it arrives; refused connections in the outage');
  line('  simulated: IMDS (an in-process document per VM), one process and one HTTP client for all agents, accelerated time (watches end on agent time)');
}

// ---- Start-up: a whole node pool created at once; every agent starts in the same instant.
lag.reset();
let c0 = cpu();
const r0 = await firstLabels(ctx, 5_000);
const t0 = r0.from;
const startup = r0.converged - t0;
const start = rate(ALL, t0, r0.converged + 1000);
const startArrivals = arrivalRate(t0, agentNow());
line();
line(`start-up in lockstep: all ${N} agents started in the same instant (a node pool created at once)`);
line(`  every node labelled ${fixed(startup / 1000)} s after the start (the first list waits the start spread, up to ${startSpreadMs(config.poll) / 1000} s; the first IMDS fetch does not wait)`);
line(`  requests sent per agent-second: peak ${start.peak}, mean ${fixed(start.mean)}; per second: ${start.buckets.join(' ')}`);
line(`  at the server: ${startArrivals.total} requests, peak ${fixed(startArrivals.peak, 0)}/s; without the spread all ${3 * N} lists, watches and patches would leave in the same instant (the spread caps it near 3·N/${MAX_START_SPREAD_MS / 1000} s = ${fixed((3 * N) / (MAX_START_SPREAD_MS / 1000), 0)}/s)`);
counts(r0);
footer(c0);

// ---- Scenario 1: steady state for an hour of agent time; the polls' phases drift apart meanwhile.
lag.reset();
c0 = cpu();
setSpeed(HOUR_SPEED);
const r1 = await steadyState(ctx, 3_600_000);
setSpeed(Number(values.speed));
const hour = r1.to - r1.from;
const reads1 = (r1.sent['LIST nodes'] ?? 0) + (r1.sent['WATCH nodes'] ?? 0);
const lists1 = r1.sent['LIST nodes'] ?? 0;
line();
line(`scenario 1 — steady state for ${fixed(hour / 3_600_000)} h of agent time (x${HOUR_SPEED})`);
line(`  API writes at the server: ${writesAt(r1)}; reads sent by the agents: ${reads1} (${lists1} lists, ${reads1 - lists1} watches) = ${fixed(reads1 / N / (hour / 3_600_000))} per node-hour (model: one watch per mean timeout, 3600/${(1.5 * WATCH_TIMEOUT_MS) / 1000} = ${fixed(3_600_000 / (1.5 * WATCH_TIMEOUT_MS))})`);
line(`  ${N} nodes: ${fixed(reads1 / (hour / 1000))} reads/s on the API server, ${writesAt(r1)} writes`);
counts(r1);
footer(c0);

// ---- Scenario 2: a tag changes on every VM at once.
lag.reset();
c0 = cpu();
const r2 = await tagChange(ctx, 'v2', PERIOD_MS / 2);
const converged2 = r2.converged - r2.from;
const patches2 = countedFor(r2.counted, 'PATCH nodes');
const w2 = rate(PATCHES, r2.from, r2.converged + 1000);
const expectedPeak = (N / PERIOD_MS) * 1000;
line();
line(`scenario 2 — the tag changes on all ${N} VMs at once`);
line(`  converged in ${fixed(converged2 / 1000)} s (bound: one poll period plus jitter, ${(PERIOD_MS * (1 + JITTER)) / 1000} s)`);
line(`  node writes at the server ${patches2}: ${patches2 === N ? 'exactly one per changed node' : 'NOT one per node'}; plus ${countedFor(r2.counted, 'POST events')} Events (LabelsUpdated)`);
line(`  node write rate: peak ${w2.peak}/s, mean ${fixed(w2.mean)}/s over the convergence; model: flat at N/P = ${fixed(expectedPeak)}/s, peak 1 s bucket ~${fixed(expectedPeak + 3 * Math.sqrt(expectedPeak))}/s`);
line(`  writes per 10 s: ${rate(PATCHES, r2.from, r2.converged + 1000, 10).buckets.join(' ')}`);
counts(r2);
footer(c0);

// ---- Scenario 3: the API server goes away for 60 s (the tag changes meanwhile), then recovers.
await pause(PERIOD_MS);
lag.reset();
c0 = cpu();
const r3 = await outage(ctx, OUTAGE_MS, 'v3', PERIOD_MS / 2);
const recovered = r3.recovered!;
const converged3 = r3.converged - recovered;
const all3 = rate(ALL, recovered, r3.to);
const reads3 = rate(['LIST nodes', 'WATCH nodes'], recovered, r3.to, 5);
const writes3 = rate(PATCHES, recovered, r3.to, 5);
const during = rate(ALL, r3.from, recovered);
const arrivals3 = arrivalRate(recovered, r3.to);
const patches3 = countedFor(r3.counted, 'PATCH nodes');
line();
line(`scenario 3 — the API server goes away for ${OUTAGE_MS / 1000} s (the tag changes meanwhile), then recovers`);
line(`  the outage: ${r3.outage}`);
line(`  during the outage: ${during.total} attempts sent (${fixed(during.total / N)} per agent, ${fixed(during.mean)}/s)`);
line(`  after recovery: requests sent peak ${all3.peak}/s, mean ${fixed(all3.mean)}/s; at the server peak ${fixed(arrivals3.peak, 0)}/s; every node converged ${fixed(converged3 / 1000)} s after`);
line(`  reads (list+watch) per 5 s: ${reads3.buckets.join(' ')}`);
line(`  node writes per 5 s:        ${writes3.buckets.join(' ')}`);
line(`  no thundering herd: the peak second carries ${fixed((100 * all3.peak) / Math.max(1, all3.total))} % of the ${all3.total} requests (without jitter: all ${N} agents' retries in the same instant)`);
line(`  node writes at the server ${patches3} for ${N} changed nodes (${patches3 === N ? 'exactly one each' : 'retries included'})`);
counts(r3);
footer(c0);

line();
const serverMemory = Object.entries(server.peakMemoryMiB())
  .map(([k, v]) => `${k} ${fixed(v)} MiB`)
  .join(', ');
line(`memory: the fleet process ${fixed(memory(process.pid).peakMiB)} MiB peak (${N} agents, the client and its ${N} open watches included); peaks of the server's processes: ${serverMemory}`);
const missed = results.flatMap(mismatches);
line(missed.length ? `counts NOT as expected:\n  ${missed.join('\n  ')}` : 'every count as expected');
line(`wall time: ${fixed((performance.now() - started) / 1000)} s`);

stopSampling = true;
await Promise.allSettled([sampler, fleet.stop()]);
await server.stop();
process.exit(0);
