/**
 * npm run bench — the agent beside the shell loop it replaces, in one table.
 *
 * Both run against the same IMDS emulator and the same sandbox API server (behind an HTTPS front,
 * with a CA file and a token file, as in a cluster). The agent is the bundle the image ships
 * (built into a temporary directory by scripts/build.ts) with the image's NODE_OPTIONS. Figures
 * are medians of several runs; timings are never asserted anywhere (the request and write counts
 * are, in test/e2e/bench-counts.test.ts).
 *
 * Usage: npm run bench -- --help (usage() below).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BASELINE_IMDS_PER_CYCLE, kubectlPath, runBaseline } from './lib/baseline.ts';
import { NODE, agentLabels, fillCompileCache, imageEnv, imageNodeOptions, resetNode, startAgent, startCluster, workspace, type AgentProcess, type Cluster } from '../helpers/bundledAgent.ts';
import { COMPILE_CACHE_SCRIPT } from '../../scripts/build.ts';
import { cpuMs, cpuSeconds, memory } from '../helpers/proc.ts';
import { fixed, median, spread } from '../helpers/stats.ts';
import { startBareNode, startFloor, type FloorProcess } from './lib/floor.ts';
import { measureIdleCpu, type IdleResult } from './lib/idle.ts';
import { runLadder } from './lib/ladder.ts';
import { ScaledClock } from '../helpers/fakeClock.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const OPTIONS = {
  help: { type: 'boolean', short: 'h', default: false },
  runs: { type: 'string', default: '3' },
  'cold-runs': { type: 'string', default: '7' },
  cycles: { type: 'string', default: '2000' },
  warp: { type: 'string', default: '40' },
  'hour-warp': { type: 'string', default: '120' },
  'baseline-cycles': { type: 'string', default: '5' },
  ladder: { type: 'boolean', default: false },
  'idle-minutes': { type: 'string', default: '10' },
  'idle-repeats': { type: 'string', default: '3' },
  'rss-minutes': { type: 'string', default: '3' },
  only: { type: 'string', default: 'idle,cold,rss,long,hour,loop' },
  before: { type: 'string' },
} as const;

/** The usage, its flags and defaults read from OPTIONS. */
function usage(): string {
  const flags = Object.entries(OPTIONS)
    .filter(([, o]) => o.type === 'string')
    .map(([name, o]) => `[--${name} ${'default' in o ? o.default : '<entry of an earlier build>'}]`);
  const lines: string[] = [];
  for (const flag of flags) {
    const last = lines.at(-1);
    if (last !== undefined && last.length + flag.length < 90) lines[lines.length - 1] = `${last} ${flag}`;
    else lines.push(flag);
  }
  return `Usage: npm run bench -- ${lines.join('\n                        ')}
       npm run bench -- --ladder   (what each footprint step bought, for docs/performance.md)

--only runs just those sections; the other rows print n/a. --before starts an earlier build's
entry (node scripts/build.ts --outdir DIR) in turn with the current one in the cold-start section,
with a compile cache of its own made as the image build makes it.
Timings are medians with min and max; the floors are measured in the same run.
`;
}

const { values } = parseArgs({ options: OPTIONS });
if (values.help) {
  process.stdout.write(usage());
  process.exit(0);
}
const RUNS = Number(values.runs);
const COLD_RUNS = Number(values['cold-runs']);
const CYCLES = Number(values.cycles);
const WARP = Number(values.warp);
const HOUR_WARP = Number(values['hour-warp']);
const BASELINE_CYCLES = Number(values['baseline-cycles']);
const IDLE_MINUTES = Number(values['idle-minutes']);
const IDLE_REPEATS = Number(values['idle-repeats']);
const RSS_MINUTES = Number(values['rss-minutes']);
/**
 * An earlier build's entry (e.g. main's, from scripts/build.ts --outdir), started in turn with the
 * others for a paired comparison; absolute, as the agents start in the workspace.
 */
const BEFORE = values.before ? resolve(values.before) : undefined;
const SECTIONS = new Set(values.only.split(','));
const section = (name: 'idle' | 'cold' | 'rss' | 'long' | 'hour' | 'loop') => SECTIONS.has(name);
/**
 * The earlier build runs as the image would run it: with a compile cache of its own, made as the
 * image build makes it, when the image has one and the build has the script that fills it;
 * otherwise without one, and the table says so.
 */
const BEFORE_DIR = BEFORE && dirname(BEFORE);
const BEFORE_CACHED = !!BEFORE_DIR && existsSync(join(BEFORE_DIR, COMPILE_CACHE_SCRIPT)) && imageEnv(BEFORE_DIR).NODE_COMPILE_CACHE !== undefined;
if (BEFORE_DIR && BEFORE_CACHED && section('cold') && !values.ladder) fillCompileCache(BEFORE_DIR);
/** The long run's poll period, in agent time; WARP x faster in wall time. */
const LONG_PERIOD_MS = 1000;
/** The deployed poll period both sides are compared at. */
const PERIOD_S = 60;
const progress = (s: string) => process.stderr.write(`bench: ${s}\n`);

const ws = await workspace();
const stopAll: (() => Promise<void> | void)[] = [() => ws.close()];
process.once('SIGINT', () => void Promise.all(stopAll.map((f) => f())).then(() => process.exit(130)));

if (values.ladder) {
  // What each footprint step bought (docs/performance.md), instead of the comparison table.
  await runLadder(ws, { coldRuns: COLD_RUNS, runs: Math.min(RUNS, 2), cycles: Math.min(CYCLES, 800), warp: WARP });
  ws.close();
  process.exit(0);
}

const agent = { coldBefore: [] as number[], coldCpuBefore: [] as number[], coldCpu: [] as number[], coldNoCache: [] as number[], coldCpuNoCache: [] as number[], coldHttp: [] as number[], cold: [] as number[], imdsPerCycle: [] as number[], reads: [] as number[], writes: [] as number[], watches: [] as number[], hourPeak: [] as number[], hourRss: [] as number[], peak: [] as number[], rss: [] as number[], heap: [] as number[], cpu: [] as number[] };
const base = { coldHttp: [] as number[], cold: [] as number[], imdsPerCycle: Number.NaN, reads: Number.NaN, writes: Number.NaN, readsCold: Number.NaN, peak: [] as number[], cpu: [] as number[] };
const floor = { cold: [] as number[], coldCpu: [] as number[], coldHttp: [] as number[], peak: [] as number[], bare: [] as number[] };
const realRss = { agent: [] as number[] };
let idle: IdleResult = { agent: [], baseline: [], windowSeconds: Number.NaN, agentPolls: Number.NaN };

// ---- Idle CPU in real time at the deployed period (no acceleration: native timers count too).
if (section('idle')) {
  progress(`idle CPU in real time: ${IDLE_REPEATS} agents and ${IDLE_REPEATS} shell loops side by side, ${PERIOD_S} s period, ${IDLE_MINUTES} min window`);
  idle = await measureIdleCpu(ws, { minutes: IDLE_MINUTES, repeats: IDLE_REPEATS, periodSeconds: PERIOD_S, progress });
}

// ---- Peak RSS in real time: 1 s polls for RSS_MINUTES, beside the floor doing the same and bare Node.
if (section('rss')) {
  progress(`peak RSS in real time: agent and floor at 1 s polls, ${RUNS} of each side by side, ${RSS_MINUTES} min`);
  const agentNodes = Array.from({ length: RUNS }, (_, i) => `${NODE}-rss-a${i}`);
  const floorNodes = Array.from({ length: RUNS }, (_, i) => `${NODE}-rss-f${i}`);
  await withCluster({ nodes: [...agentNodes, ...floorNodes] }, async (c) => {
    const agents = agentNodes.map((node) => startAgent({ ws, cluster: c, node, args: ['--poll-period', '1s', '--poll-jitter', '0'] }));
    const floors = floorNodes.map((node) => startFloor({ ws, cluster: c, node, polls: 0, periodMs: 1000 }));
    const bare = startBareNode(ws);
    await sleep(RSS_MINUTES * 60_000);
    for (const a of agents) realRss.agent.push(memory(a.pid).peakMiB);
    for (const f of floors) floor.peak.push(memory(f.pid).peakMiB);
    floor.bare.push(memory(bare.pid).peakMiB);
    for (const p of [...floors, bare]) p.kill();
    await Promise.all([...agents.map((a) => a.stop()), ...floors.map((f) => f.done), bare.done]);
  });
}


async function withCluster<T>(options: Parameters<typeof startCluster>[1], fn: (c: Cluster) => Promise<T>): Promise<T> {
  const cluster = await startCluster(ws.dir, options);
  try {
    return await fn(cluster);
  } finally {
    await cluster.close();
  }
}

const labelled = (c: Cluster) => Object.keys(agentLabels(c.sandbox)).length > 0;

// ---- Cold start: process start to labels on the node, wall time, no acceleration; over HTTPS
// as in a cluster, and over the sandbox's plain HTTP.
// The agent and the floor (HTTPS only) take turns, so both see the same moments of a noisy machine.
for (const tls of section('cold') ? [true, false] : []) {
  progress(`cold start over ${tls ? 'HTTPS' : 'HTTP'}, ${COLD_RUNS} runs each`);
  await withCluster({ tls }, async (c) => {
    /** Spawn to labels on a bare node: wall ms, and CPU ms of the process at that moment. */
    const coldStart = async (what: string, start: () => { pid: number; spawnedAt: number }, stop: () => Promise<unknown>, wall: number[], cpu?: number[]) => {
      resetNode(c.sandbox);
      const p = start();
      await waitFor(`labels from ${what}`, () => labelled(c), { timeoutMs: 30_000, everyMs: 2 });
      wall.push(performance.now() - p.spawnedAt);
      cpu?.push(cpuMs(p.pid));
      await stop();
    };
    // Jitter 0 turns the start spread off: by design a started agent waits a random 0-2 s
    // before its first list (a node pool created at once must not list in the same instant),
    // which is not cost and would swamp the start-up figure. CPU to labels is the same either way.
    const args = ['--poll-jitter', '0'];
    for (let i = 0; i < COLD_RUNS; i++) {
      let a: AgentProcess | undefined;
      await coldStart('the agent', () => (a = startAgent({ ws, cluster: c, args })), () => a!.stop(), tls ? agent.cold : agent.coldHttp, tls ? agent.coldCpu : undefined);
      if (!tls) continue;
      await coldStart('the agent without the compile cache', () => (a = startAgent({ ws, cluster: c, args, noCompileCache: true })), () => a!.stop(), agent.coldNoCache, agent.coldCpuNoCache);
      if (BEFORE) await coldStart('the earlier bundle', () => (a = startAgent({ ws, cluster: c, args, entry: BEFORE, noCompileCache: !BEFORE_CACHED })), () => a!.stop(), agent.coldBefore, agent.coldCpuBefore);
      // The floor stays up after its PATCH (its next poll is an hour away), so its CPU can be read.
      let f: FloorProcess | undefined;
      await coldStart('the floor', () => (f = startFloor({ ws, cluster: c, polls: 0, periodMs: 3_600_000 })), () => (f!.kill(), f!.done), floor.cold, floor.coldCpu);
    }
    for (let i = 0; i < COLD_RUNS; i++) {
      resetNode(c.sandbox);
      const b = runBaseline({ dir: ws.dir, imdsUrl: c.emulator.url, kubeconfig: c.kubeconfigYaml, node: NODE, cycles: 1 });
      await waitFor('labels from the shell loop', () => labelled(c), { timeoutMs: 60_000, everyMs: 2 });
      (tls ? base.cold : base.coldHttp).push(performance.now() - b.spawnedAt);
      await b.done;
    }
  });
}

// ---- Long accelerated run: thousands of polls at a 1 s period, time WARP x faster.
for (let run = 0; run < (section('long') ? RUNS : 0); run++) {
  progress(`long run ${run + 1}/${RUNS}: ${CYCLES} polls, period ${LONG_PERIOD_MS} ms of agent time, time x${WARP}`);
  const clock = new ScaledClock(WARP);
  await withCluster({ clock }, async (c) => {
    const a = startAgent({ ws, cluster: c, warp: WARP, args: ['--poll-period', `${LONG_PERIOD_MS}ms`, '--poll-jitter', '0'] });
    await waitFor('labels from the agent', () => labelled(c), { timeoutMs: 60_000, everyMs: 5 });
    await a.port();
    // From here on the agent is warm: count polls and CPU from this point.
    const r0 = c.emulator.requests().total;
    const t0 = clock.now();
    const cpu0 = cpuSeconds(a.pid);
    await waitFor(`${CYCLES} polls`, () => c.emulator.requests().total - r0 >= CYCLES, { timeoutMs: CYCLES * LONG_PERIOD_MS / WARP * 5 + 60_000, everyMs: 100 });
    const polls = c.emulator.requests().total - r0;
    const cycles = (clock.now() - t0) / LONG_PERIOD_MS;
    const cpu = cpuSeconds(a.pid) - cpu0;
    const mem = memory(a.pid);
    agent.imdsPerCycle.push(polls / cycles);
    agent.cpu.push((cpu / polls) * 1000);
    agent.peak.push(mem.peakMiB);
    agent.rss.push(mem.rssMiB);
    agent.heap.push(((await a.metric('nodejs_heap_size_used_bytes')) ?? Number.NaN) / 1048576);
    await a.stop();
  });
}

// ---- Steady state for a simulated hour at the deployed settings (60 s polls, 5 min watches).
for (let run = 0; run < (section('hour') ? RUNS : 0); run++) {
  progress(`steady state ${run + 1}/${RUNS}: one hour of agent time at x${HOUR_WARP} (${fixed(3600 / HOUR_WARP, 0)} s)`);
  const clock = new ScaledClock(HOUR_WARP);
  await withCluster({ clock }, async (c) => {
    const a = startAgent({ ws, cluster: c, warp: HOUR_WARP });
    await waitFor('labels from the agent', () => labelled(c), { timeoutMs: 60_000, everyMs: 5 });
    // Settle: the first sync and its event are start-up, not steady state.
    await sleep((2 * 60_000) / HOUR_WARP);
    c.sandbox.resetCounters();
    await sleep(3_600_000 / HOUR_WARP);
    const k = c.sandbox.counters();
    agent.reads.push((k.byVerb.get ?? 0) + (k.byVerb.list ?? 0) + (k.byVerb.watch ?? 0) + k.nonResource);
    agent.watches.push(k.byVerb.watch ?? 0);
    agent.writes.push(k.writes);
    const m = memory(a.pid);
    agent.hourPeak.push(m.peakMiB);
    agent.hourRss.push(m.rssMiB);
    await a.stop();
  });
}

// ---- The shell loop: one cold cycle (empty kubectl cache), then steady cycles.
if (section('loop')) progress(`shell loop: ${BASELINE_CYCLES} steady cycles with ${kubectlPath()}`);
if (section('loop')) await withCluster({}, async (c) => {
  const home = join(ws.dir, 'baseline-home');
  mkdirSync(home, { recursive: true });
  resetNode(c.sandbox);
  c.sandbox.resetCounters();
  await runBaseline({ dir: ws.dir, imdsUrl: c.emulator.url, kubeconfig: c.kubeconfigYaml, node: NODE, cycles: 1, home }).done;
  const cold = c.sandbox.counters();
  base.readsCold = (cold.byVerb.get ?? 0) + (cold.byVerb.list ?? 0) + cold.nonResource;
  for (let run = 0; run < RUNS; run++) {
    c.sandbox.resetCounters();
    c.emulator.resetCounters();
    const r = await runBaseline({ dir: ws.dir, imdsUrl: c.emulator.url, kubeconfig: c.kubeconfigYaml, node: NODE, cycles: BASELINE_CYCLES, home }).done;
    const k = c.sandbox.counters();
    base.imdsPerCycle = c.emulator.requests().total / BASELINE_CYCLES;
    base.reads = ((k.byVerb.get ?? 0) + (k.byVerb.list ?? 0) + (k.byVerb.watch ?? 0) + k.nonResource) / BASELINE_CYCLES;
    base.writes = k.writes / BASELINE_CYCLES;
    base.cpu.push((r.cpuSeconds / BASELINE_CYCLES) * 1000);
    base.peak.push(r.peakTreeMiB);
  }
});
await ws.close();

// ---- The table.
const perHour = 3600 / PERIOD_S;
const rows: [string, string, string][] = [
  ['IMDS requests per poll cycle (limit 1)', fixed(median(agent.imdsPerCycle), 2), `${fixed(base.imdsPerCycle, 0)} (one per field; expected ${BASELINE_IMDS_PER_CYCLE})`],
  ['API reads per node-hour, steady state', `${spread(agent.reads, 0)} (${fixed(median(agent.watches), 0)} watch renewals)`, `${fixed(base.reads * perHour, 0)} (${fixed(base.reads, 0)} per cycle x ${perHour}; first cycle ${base.readsCold})`],
  ['API writes per node-hour, steady state (limit 0)', spread(agent.writes, 0), `${fixed(base.writes * perHour, 0)} (${fixed(base.writes, 0)} per cycle x ${perHour})`],
  ['Cold start to labels applied, ms (HTTPS, CA + token)', spread(agent.cold, 0), spread(base.cold, 0)],
  ['Cold start to labels applied, ms (plain HTTP)', spread(agent.coldHttp, 0), spread(base.coldHttp, 0)],
  [`Peak RSS after ${CYCLES} cycles, MiB`, spread(agent.peak), `${spread(base.peak)} (bash + curl/kubectl, peak of the tree)`],
  ['Peak / end RSS over the simulated hour (deployed settings), MiB', `${spread(agent.hourPeak)} / ${fixed(median(agent.hourRss))}`, 'as above'],
  [`RSS / heap used at the end, MiB`, `${fixed(median(agent.rss))} / ${fixed(median(agent.heap))}`, 'n/a (nothing stays resident but bash)'],
  ['CPU seconds per 1,000 cycles', spread(agent.cpu, 2), spread(base.cpu, 0)],
  [`Idle CPU seconds per node-hour, real time, ${PERIOD_S} s period`, spread(idle.agent, 2), spread(idle.baseline, 2)],
];
const w0 = Math.max(...rows.map((r) => r[0].length), 6);
const w1 = Math.max(...rows.map((r) => r[1].length), 'imds-labeler (bundle)'.length);
const line = (a: string, b: string, c: string) => `| ${a.padEnd(w0)} | ${b.padEnd(w1)} | ${c} |`;
console.log(line('', 'imds-labeler (bundle)', 'shell loop: curl per field + kubectl label'));
console.log(`|${'-'.repeat(w0 + 2)}|${'-'.repeat(w1 + 2)}|${'-'.repeat(44)}|`);
for (const r of rows) console.log(line(...r));
console.log(`
Medians of ${RUNS} runs (cold start: ${COLD_RUNS}), spread in parentheses. Node ${process.versions.node}, NODE_OPTIONS of the image: ${imageNodeOptions('/app').join(' ')}.
- Both sides use the same IMDS emulator (no throttle) and the same sandbox API server behind HTTPS (CA file, token file).
- IMDS per cycle: agent polls counted over ${CYCLES} cycles of ${LONG_PERIOD_MS} ms (jitter 0), divided by the cycles the elapsed time allows.
- API per node-hour: the agent is measured over one simulated hour at the deployed settings (60 s polls ±20 %, 5 min watches, 10 min resync),
  time running ${HOUR_WARP}x faster (agent and sandbox); counted after start-up. The shell loop is measured over ${BASELINE_CYCLES} cycles
  (kubectl's discovery cache warm) and multiplied by ${perHour} cycles per hour at a ${PERIOD_S} s period. Reads include discovery requests.
- Peak RSS / heap / CPU: ${CYCLES} polls at a ${LONG_PERIOD_MS} ms period with time ${WARP}x faster (${fixed((CYCLES * LONG_PERIOD_MS) / WARP / 1000, 0)} s wall);
  peak is the kernel's VmHWM of the agent process, heap is nodejs_heap_size_used_bytes from its /metrics; CPU counts from the first labels on.
  The shell loop's CPU is bash's \`times\` (its own and its children's) over ${BASELINE_CYCLES} cycles, scaled to 1,000.
- Cold start: spawn to the first label on the node (sandbox polled every 2 ms), with the chart's config file and --poll-jitter 0 (no start spread,
  the random 0-2 s wait before the first list that keeps a node pool from listing at once); the shell loop starts with an empty kubectl cache. The API server, its HTTPS front and IMDS run in the benchmark process, so their answers are part of the figure.
- Idle CPU: ${IDLE_REPEATS} agents (chart settings: ${PERIOD_S} s polls ±20 %, 5 min watches) and ${IDLE_REPEATS} shell loops (sleep ${PERIOD_S}) side by side in real time,
  each on its own node; utime+stime from /proc/<pid>/stat (the loop: its whole process tree, reaped children included) over a ${fixed(idle.windowSeconds / 60, 1)} min window
  after start-up (${idle.agentPolls} agent polls in the window), scaled to one hour. Median (min–max) of the ${IDLE_REPEATS}.`);

// ---- Against the floors, each measured in this run.
const ratio = (a: readonly number[], b: readonly number[]) => {
  const r = fixed(median(a) / median(b), 2);
  return r === 'n/a' ? r : `${r}x`;
};
const floorRows: [string, string, string, string][] = [
  [`Idle CPU seconds per node-hour, real time, ${PERIOD_S} s period`, spread(idle.agent, 2), `${spread(idle.baseline, 2)} (the shell loop)`, ratio(idle.agent, idle.baseline)],
  ['Spawn to labels over HTTPS, ms', spread(agent.cold, 0), `${spread(floor.cold, 0)} (Node.js: one GET + one PATCH, no libraries)`, ratio(agent.cold, floor.cold)],
  ['CPU from spawn to labels over HTTPS, ms (user + system)', spread(agent.coldCpu, 0), spread(floor.coldCpu, 0), ratio(agent.coldCpu, floor.coldCpu)],
  ['  the same without the compile cache: wall / CPU, ms', `${spread(agent.coldNoCache, 0)} / ${spread(agent.coldCpuNoCache, 0)}`, '', `${ratio(agent.coldNoCache, floor.cold)} / ${ratio(agent.coldCpuNoCache, floor.coldCpu)}`],
  ...(BEFORE ? [[`  the earlier bundle (--before${BEFORE_CACHED ? ', its own compile cache' : ', no compile cache'}): wall / CPU, ms`, `${spread(agent.coldBefore, 0)} / ${spread(agent.coldCpuBefore, 0)}`, BEFORE, `${ratio(agent.coldBefore, floor.cold)} / ${ratio(agent.coldCpuBefore, floor.coldCpu)}`] as [string, string, string, string]] : []),
  [`Peak RSS after ${RSS_MINUTES} min of 1 s polls, real time, MiB`, spread(realRss.agent), `${spread(floor.peak)} (the same floor, polling) / ${spread(floor.bare)} (bare Node.js)`, `${ratio(realRss.agent, floor.peak)} / ${ratio(realRss.agent, floor.bare)}`],
];
console.log('\n| measure | imds-labeler (bundle) | floor | ratio |\n|---|---|---|---|');
for (const r of floorRows) console.log(`| ${r.join(' | ')} |`);
console.log(`
Floors: plain Node.js ${process.versions.node} with the image's node options (test/bench/lib/floor.ts): GET the IMDS instance document, PATCH the node
over HTTPS with the CA and token files, nothing else. Cold start: agent, agent without the image's compile cache (NODE_COMPILE_CACHE) and
floor take turns, ${COLD_RUNS} runs each. Peak RSS: ${RUNS} agents, ${RUNS} floors and one
bare \`node -e setInterval\` side by side for ${RSS_MINUTES} min, VmHWM.`);
