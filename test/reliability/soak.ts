import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Clock } from '../../src/clock.ts';
import type { FaultPlan } from '../../testbed/imds-emulator/faults.ts';
import type { SandboxFaults } from '../../testbed/kube-sandbox/server.ts';
import {
  defaultWire,
  desiredFor,
  matchesDesired,
  nodeMeta,
  ownershipProblems,
  startInProcessAgent,
  startWorld,
  until,
  wireWithTags,
  type Tag,
} from './harness.ts';

/**
 * The soak: the real agent loop in this process against the emulator and the sandbox, for many
 * poll cycles, with random faults on both sides, IMDS changes, hand edits and node re-creation.
 *
 * Time is accelerated, not simulated: one FastClock, `factor` times faster than real time, drives
 * the agent (poller, retries, rate limiter, syncer, watch, watchdog, resync), the emulator
 * (throttle, fault durations, latency) and the sandbox (watch timeouts, bookmarks, latency). All
 * timers are real timers, so their order and every interleaving with real loopback I/O are
 * genuine; only request timeouts of the IMDS client stay in real milliseconds.
 *
 * It samples heap, RSS and active handles every `sampleEvery` cycles (after a full GC), fits a
 * least-squares line over the second half and reports the slopes, and counts unhandled
 * rejections and MaxListenersExceeded warnings (the classic AbortSignal listener leak).
 */

export class FastClock implements Clock {
  readonly factor: number;
  readonly #origin = Date.now();
  readonly #start = performance.now();
  constructor(factor: number) {
    this.factor = factor;
  }
  now(): number {
    return this.#origin + (performance.now() - this.#start) * this.factor;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms) / this.factor);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

export interface SoakOptions {
  cycles: number;
  /** Virtual poll period; default 500 ms. */
  pollPeriodMs?: number;
  /** Acceleration; default 100 (a 500 ms period takes 5 ms). */
  factor?: number;
  sampleEvery?: number;
  /**
   * Cycles run before the first sample (part of `cycles`): the heap grows while code paths are
   * first taken and compiled, and the sandbox's history fills. Default: a fifth of `cycles`.
   */
  warmupCycles?: number;
  seed?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface Sample {
  cycle: number;
  heapUsed: number;
  rss: number;
  external: number;
  handles: number;
  handleTypes: Record<string, number>;
}

export interface Trend {
  /** Least-squares slope over the second half, per 1000 cycles. */
  slopePer1000: number;
  first: number;
  last: number;
  min: number;
  max: number;
}

export interface SoakReport {
  cycles: number;
  realSeconds: number;
  virtualSeconds: number;
  samples: Sample[];
  heap: Trend;
  rss: Trend;
  handles: Trend;
  unhandledRejections: number;
  uncaughtWarnings: string[];
  faultsInjected: Record<string, number>;
  imdsChanges: number;
  handEdits: number;
  nodeRecreations: number;
  metrics: Record<string, number>;
  finalConsistent: boolean;
  finalProblems: string[];
}

/** A full GC, where the runtime allows it (exposed at run time; no command-line flag needed). */
export function fullGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Least squares over the second half of the samples. */
export function trend(samples: Sample[], pick: (s: Sample) => number): Trend {
  const values = samples.map(pick);
  const half = samples.slice(Math.floor(samples.length / 2));
  const n = half.length;
  const xs = half.map((s) => s.cycle);
  const ys = half.map(pick);
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return { slopePer1000: den === 0 ? 0 : (num / den) * 1000, first: values[0] ?? 0, last: values.at(-1) ?? 0, min: Math.min(...values), max: Math.max(...values) };
}

/** A small deterministic PRNG (mulberry32), so a failing soak can be replayed by its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INSTANCE = '/metadata/instance';

const IMDS_FAULTS: { name: string; plan: (r: () => number) => NonNullable<FaultPlan['faults']>[number] }[] = [
  { name: 'imds 500', plan: () => ({ path: INSTANCE, status: 500, times: 3 }) },
  { name: 'imds 503 burst', plan: () => ({ path: INSTANCE, statuses: [503, 503, 502] }) },
  { name: 'imds 429 burst', plan: () => ({ path: INSTANCE, statuses: [429, 429, 429, 429], retryAfter: 1 }) },
  { name: 'imds 410', plan: () => ({ path: INSTANCE, status: 410, forSeconds: 20 }) },
  { name: 'imds 400', plan: () => ({ path: INSTANCE, status: 400, times: 2 }) },
  { name: 'imds 404', plan: () => ({ path: INSTANCE, status: 404, times: 2 }) },
  { name: 'imds 405', plan: () => ({ path: INSTANCE, status: 405, times: 1 }) },
  { name: 'imds malformed', plan: () => ({ path: INSTANCE, malformed: true, times: 2 }) },
  { name: 'imds html', plan: (r) => ({ path: INSTANCE, html: r() < 0.5 ? 200 : 502, times: 2 }) },
  { name: 'imds truncate', plan: () => ({ path: INSTANCE, truncate: true, times: 2 }) },
  { name: 'imds reset', plan: () => ({ path: INSTANCE, reset: true, times: 2 }) },
  { name: 'imds latency', plan: () => ({ path: INSTANCE, latencyMs: 800, times: 3 }) },
  { name: 'imds slow drip', plan: () => ({ path: INSTANCE, slowDrip: { bytes: 512, intervalMs: 50 }, times: 1 }) },
  { name: 'imds huge body', plan: () => ({ path: INSTANCE, hugeBody: { mebibytes: 2 }, times: 1 }) },
  { name: 'imds hang', plan: () => ({ path: INSTANCE, hang: true, times: 1 }) },
];

const KUBE_FAULTS: { name: string; plan: (r: () => number) => SandboxFaults }[] = [
  { name: 'kube 409 storm', plan: (r) => ({ faults: [{ verb: 'patch', resource: 'nodes', status: 409, times: 1 + Math.floor(r() * 12) }] }) },
  { name: 'kube 429', plan: () => ({ faults: [{ verb: 'patch', resource: 'nodes', status: 429, retryAfter: 1, times: 2 }] }) },
  { name: 'kube 500', plan: () => ({ faults: [{ verb: 'patch', resource: 'nodes', status: 500, times: 3 }] }) },
  { name: 'kube patch latency', plan: () => ({ faults: [{ verb: 'patch', resource: 'nodes', latencyMs: 2000, times: 2 }] }) },
  { name: 'kube list 500', plan: () => ({ faults: [{ verb: 'list', resource: 'nodes', status: 500, times: 2 }], refuse: { connections: 1, mode: 'reset' } }) },
  { name: 'kube watch cut', plan: () => ({ faults: [{ verb: 'watch', resource: 'nodes', dropWatch: { afterEvents: 1, mode: 'reset' }, times: 2 }], refuse: { connections: 1, mode: 'reset' } }) },
  { name: 'kube watch 410', plan: () => ({ faults: [{ verb: 'watch', resource: 'nodes', watchError: 410, times: 1 }], refuse: { connections: 1, mode: 'reset' } }) },
  { name: 'kube refused', plan: () => ({ faults: [], refuse: { forMs: 3000, mode: 'close' } }) },
  { name: 'kube events 500', plan: () => ({ faults: [{ resource: 'events', status: 500, times: 3 }] }) },
];

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const factor = options.factor ?? 100;
  const period = options.pollPeriodMs ?? 500;
  const sampleEvery = options.sampleEvery ?? Math.max(50, Math.floor(options.cycles / 40));
  const random = prng(options.seed ?? 1);
  const log = options.log ?? (() => undefined);
  const gc = fullGc();
  const clock = new FastClock(factor);

  let unhandledRejections = 0;
  const warnings: string[] = [];
  const onRejection = (reason: unknown) => {
    unhandledRejections++;
    log(`unhandled rejection: ${String((reason as Error)?.stack ?? reason)}`);
  };
  const onWarning = (w: Error) => {
    if (w.name === 'MaxListenersExceededWarning' || /leak/i.test(w.message)) warnings.push(`${w.name}: ${w.message}`);
  };
  process.on('unhandledRejection', onRejection);
  process.on('warning', onWarning);

  // A short watch history keeps the sandbox's own memory flat early, so growth means the agent.
  const world = await startWorld({ nodes: ['node-0'], emulatorClock: clock, sandboxClock: clock, historyLimit: 50 });
  const seedNode = structuredClone(world.sandbox.getNode('node-0')!);
  let cycles = 0;
  const agent = await startInProcessAgent(world, {
    clock,
    imdsClock: clock,
    keepLogs: false,
    config: {
      poll: { period: `${period}ms`, jitter: 0.2 },
      imds: { requestTimeout: '300ms', connectTimeout: '300ms', retryBudget: '20s', rateLimit: { requestsPerSecond: 3, burst: 1 } },
      kube: { resyncPeriod: '60s', watchTimeout: '60s' },
    },
    wrapFetch: (fetch) => (signal) => {
      cycles++;
      return fetch(signal);
    },
  });

  const faultsInjected: Record<string, number> = {};
  const count = (name: string) => (faultsInjected[name] = (faultsInjected[name] ?? 0) + 1);
  let wire = defaultWire();
  let imdsChanges = 0;
  let handEdits = 0;
  let nodeRecreations = 0;
  /** Labels another writer added since the node was last re-created: none may be lost. */
  const theirs = new Set<string>();
  const samples: Sample[] = [];
  const sample = () => {
    gc();
    const m = process.memoryUsage();
    const types: Record<string, number> = {};
    const resources = process.getActiveResourcesInfo();
    for (const t of resources) types[t] = (types[t] ?? 0) + 1;
    samples.push({ cycle: cycles, heapUsed: m.heapUsed, rss: m.rss, external: m.external, handles: resources.length, handleTypes: types });
  };

  const started = performance.now();
  const virtualStart = clock.now();
  const warmup = options.warmupCycles ?? Math.floor(options.cycles / 5);
  let nextSample = warmup;
  let nextEvent = 5;
  let lastProgress = 0;
  try {
    while (cycles < options.cycles) {
      await new Promise((r) => setTimeout(r, 2));
      if (cycles >= nextSample) {
        sample();
        nextSample += sampleEvery;
      }
      if (cycles - lastProgress >= Math.max(500, options.cycles / 10)) {
        lastProgress = cycles;
        const m = process.memoryUsage();
        log(`cycle ${cycles}: heap ${(m.heapUsed / 2 ** 20).toFixed(1)} MiB, rss ${(m.rss / 2 ** 20).toFixed(1)} MiB, handles ${process.getActiveResourcesInfo().length}`);
      }
      if (cycles < nextEvent) continue;
      nextEvent = cycles + 3 + Math.floor(random() * 12);
      const roll = random();
      if (roll < 0.35) {
        const f = IMDS_FAULTS[Math.floor(random() * IMDS_FAULTS.length)]!;
        world.emulator.setFaults({ faults: [f.plan(random)] });
        count(f.name);
      } else if (roll < 0.6) {
        const f = KUBE_FAULTS[Math.floor(random() * KUBE_FAULTS.length)]!;
        world.sandbox.setFaults(f.plan(random));
        count(f.name);
      } else if (roll < 0.85) {
        const tags: Tag[] = Array.from({ length: Math.floor(random() * 6) }, (_, i) => ({ name: `t${Math.floor(random() * 8)}-${i}`, value: `v${Math.floor(random() * 4)}` }));
        wire = wireWithTags(tags);
        world.emulator.setFixture(wire);
        imdsChanges++;
      } else if (roll < 0.97) {
        const node = world.sandbox.getNode('node-0');
        if (node) {
          const key = `team.example.com/k${handEdits % 5}`;
          world.sandbox.putNode({ ...node, metadata: { ...node.metadata, labels: { ...node.metadata.labels, 'imds-labeler.io/zone': `edit-${handEdits}`, [key]: 'x' } } });
          theirs.add(key);
          handEdits++;
        }
      } else {
        world.sandbox.deleteNode('node-0');
        const fresh = structuredClone(seedNode);
        delete fresh.metadata.uid;
        delete fresh.metadata.resourceVersion;
        delete fresh.metadata.creationTimestamp;
        world.sandbox.putNode(fresh);
        theirs.clear();
        nodeRecreations++;
      }
    }
    sample();

    // The end: faults off, a known document, and the node must converge and be consistent.
    world.emulator.setFaults({ faults: [] });
    world.sandbox.setFaults({ faults: [] });
    const finalWire = wireWithTags([{ name: 'final', value: 'yes' }]);
    world.emulator.setFixture(finalWire);
    let finalConsistent = true;
    try {
      await until(() => matchesDesired(world.sandbox, desiredFor(finalWire, agent.config)), Boolean, 'final convergence', 60_000);
    } catch (err) {
      finalConsistent = false;
      log(String(err));
    }
    const finalProblems = ownershipProblems(world.sandbox);
    const labels = nodeMeta(world.sandbox).labels;
    for (const key of theirs) if (labels[key] !== 'x') finalProblems.push(`another writer's label ${key} lost`);

    const metrics: Record<string, number> = {};
    for (const [name, labels] of [
      ['imds_labeler_imds_requests_total', {}],
      ['imds_labeler_imds_errors_total', {}],
      ['imds_labeler_imds_retries_total', {}],
      ['imds_labeler_node_patches_total', { result: 'success' }],
      ['imds_labeler_node_patches_total', { result: 'conflict' }],
      ['imds_labeler_node_patches_total', { result: 'error' }],
      ['imds_labeler_watch_restarts_total', {}],
      ['imds_labeler_reconciles_total', {}],
    ] as const) {
      metrics[`${name}${Object.keys(labels).length ? JSON.stringify(labels) : ''}`] = await agent.metric(name, labels);
    }
    return {
      cycles,
      realSeconds: (performance.now() - started) / 1000,
      virtualSeconds: (clock.now() - virtualStart) / 1000,
      samples,
      heap: trend(samples, (s) => s.heapUsed),
      rss: trend(samples, (s) => s.rss),
      handles: trend(samples, (s) => s.handles),
      unhandledRejections,
      uncaughtWarnings: warnings,
      faultsInjected,
      imdsChanges,
      handEdits,
      nodeRecreations,
      metrics,
      finalConsistent: finalConsistent && finalProblems.length === 0,
      finalProblems,
    };
  } finally {
    await agent.stop();
    await world.close();
    // Let late rejections surface before the handlers go.
    await new Promise((r) => setTimeout(r, 50));
    process.off('unhandledRejection', onRejection);
    process.off('warning', onWarning);
  }
}

export function formatReport(r: SoakReport): string {
  const MiB = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;
  const t = (name: string, tr: Trend, fmt: (n: number) => string) =>
    `${name.padEnd(8)} first ${fmt(tr.first)}, last ${fmt(tr.last)}, min ${fmt(tr.min)}, max ${fmt(tr.max)}, slope (2nd half) ${fmt(tr.slopePer1000)} per 1000 cycles`;
  return [
    `soak: ${r.cycles} cycles in ${r.realSeconds.toFixed(1)} s real (${r.virtualSeconds.toFixed(0)} s of agent time); ${r.samples.length} samples from cycle ${r.samples[0]?.cycle ?? '-'}`,
    t('heap', r.heap, MiB),
    t('rss', r.rss, MiB),
    t('handles', r.handles, (n) => n.toFixed(2)),
    `handle types at the end: ${JSON.stringify(r.samples.at(-1)?.handleTypes ?? {})}`,
    `unhandled rejections: ${r.unhandledRejections}; leak warnings: ${r.uncaughtWarnings.length ? r.uncaughtWarnings.join(' | ') : 'none'}`,
    `faults injected: ${Object.entries(r.faultsInjected).map(([k, v]) => `${k} ×${v}`).join(', ')}`,
    `IMDS changes ${r.imdsChanges}, hand edits ${r.handEdits}, node re-creations ${r.nodeRecreations}`,
    `metrics: ${Object.entries(r.metrics).map(([k, v]) => `${k}=${v}`).join(', ')}`,
    `final state: ${r.finalConsistent ? 'converged and consistent' : `NOT consistent: ${r.finalProblems.join('; ') || 'did not converge'}`}`,
  ].join('\n');
}
