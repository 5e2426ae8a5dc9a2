import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { agentPathBytes, buildBundle, STEPS, type Step } from '../../../scripts/build.ts';
import { ROOT, agentLabels, imageNodeOptions, resetNode, startAgent, startCluster, type Workspace } from '../../helpers/bundledAgent.ts';
import { memory } from '../../helpers/proc.ts';
import { fixed, median } from '../../helpers/stats.ts';
import { ScaledClock } from '../../helpers/fakeClock.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * The footprint ladder behind docs/performance.md: the bundle as it was, then each build step
 * turned on in turn, then the image's node options. Each rung: bytes of JavaScript the agent
 * loads, cold start (spawn to labels) and peak RSS over a short accelerated run.
 */

/** The tree before the footprint work (the sandbox had just landed): its scripts/build.ts, src/ and Dockerfile options. */
const ORIGINAL_COMMIT = 'c5c51cd';
const ORIGINAL_OPTIONS = ['--max-old-space-size=64', '--max-semi-space-size=1'];

interface Rung {
  label: string;
  entry: string;
  options: string[];
  bytes: number;
  /** Config file and kubeconfig in YAML (before the agent read JSON without a YAML parser). */
  yaml: boolean;
}

export async function runLadder(ws: Workspace, o: { coldRuns: number; runs: number; cycles: number; warp: number }): Promise<void> {
  const rungs: Rung[] = [];
  const progress = (s: string) => process.stderr.write(`ladder: ${s}\n`);

  // The original tree, exported from git (read-only), with the repository's node_modules.
  const orig = join(ws.dir, 'original');
  mkdirSync(orig, { recursive: true });
  execFileSync('sh', ['-c', `git -C "${ROOT}" archive ${ORIGINAL_COMMIT} | tar -x -C "${orig}"`]);
  symlinkSync(join(ROOT, 'node_modules'), join(orig, 'node_modules'));
  execFileSync(process.execPath, ['scripts/build.ts'], { cwd: orig, stdio: 'ignore' });
  rungs.push({ label: `original (${ORIGINAL_COMMIT}): one bundle, ${ORIGINAL_OPTIONS.join(' ')}`, entry: join(orig, 'dist/imds-labeler.mjs'), options: ORIGINAL_OPTIONS, bytes: statSync(join(orig, 'dist/imds-labeler.mjs')).size, yaml: true });

  const ladder: [string, Step | undefined][] = [
    ['source: KubeConfig only from client-node, requests over node:http, zod namespace import, lazy stdio, V8 tiers and zod codegen off', undefined],
    ['+ split: a chunk per subcommand', 'split'],
    ['+ client-node modules side-effect free', 'sideEffects'],
    ['+ auth plugins loaded on use, undici and proxy agents left out', 'lazy'],
    ['+ built-ins through require()', 'builtins'],
    ['+ prom-client parts, pino without transports', 'metrics'],
    ['+ config file and kubeconfig in JSON: no YAML parser loads', 'yaml'],
    ['+ no keepNames: no __name() call per function and class', 'names'],
  ];
  const on = new Set<Step>();
  for (const [label, step] of ladder) {
    if (step) on.add(step);
    if (step === 'metrics') on.add('logger');
    const outdir = join(ws.dir, `rung-${rungs.length}`);
    const built = await buildBundle({ outdir, disable: STEPS.filter((s) => !on.has(s)) });
    rungs.push({ label, entry: built.entry, options: ORIGINAL_OPTIONS, bytes: agentPathBytes(built.metafile), yaml: !on.has('yaml') });
  }
  const last = rungs.at(-1)!;
  rungs.push({ ...last, label: `+ image options: ${imageNodeOptions('/app').join(' ')}`, options: imageNodeOptions(ws.distDir) });

  const rows: string[] = [];
  for (const [i, rung] of rungs.entries()) {
    progress(`${i}/${rungs.length - 1} ${rung.label}`);
    const cold: number[] = [];
    const peak: number[] = [];
    await (async () => {
      const cluster = await startCluster(ws.dir);
      try {
        for (let r = 0; r < o.coldRuns; r++) {
          resetNode(cluster.sandbox);
          const a = startAgent({ ws, cluster, entry: rung.entry, imageOptions: rung.options, yaml: rung.yaml, noCompileCache: true });
          await waitFor('labels', () => Object.keys(agentLabels(cluster.sandbox)).length > 0, { timeoutMs: 30_000, everyMs: 2 });
          cold.push(performance.now() - a.spawnedAt);
          await a.stop();
        }
      } finally {
        await cluster.close();
      }
    })();
    for (let r = 0; r < o.runs; r++) {
      const cluster = await startCluster(ws.dir, { clock: new ScaledClock(o.warp) });
      try {
        const a = startAgent({ ws, cluster, entry: rung.entry, imageOptions: rung.options, yaml: rung.yaml, noCompileCache: true, warp: o.warp, args: ['--poll-period', '1s', '--poll-jitter', '0'] });
        await waitFor('labels', () => Object.keys(agentLabels(cluster.sandbox)).length > 0, { timeoutMs: 60_000, everyMs: 5 });
        await waitFor(`${o.cycles} polls`, () => cluster.emulator.requests().total >= o.cycles, { timeoutMs: 600_000, everyMs: 100 });
        peak.push(memory(a.pid).peakMiB);
        await a.stop();
      } finally {
        await cluster.close();
      }
    }
    rows.push(`| ${rung.label} | ${fixed(rung.bytes / 1024, 0)} | ${fixed(median(cold), 0)} | ${fixed(median(peak))} |`);
  }
  console.log('| step (cumulative) | JS loaded by `agent`, KiB | cold start, ms | peak RSS, MiB |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log(`\nMedians: cold start of ${o.coldRuns} runs, peak RSS of ${o.runs} runs of ${o.cycles} polls at a 1 s period, time ${o.warp}x faster, HTTPS API with CA and token files.`);
}
