/**
 * `npm run soak`: the long soak, at least 10,000 accelerated poll cycles of the real agent loop
 * against the IMDS emulator and the Kubernetes sandbox, with random faults on both sides (see
 * test/reliability/soak.ts). Prints heap, RSS and handle trends; exits 1 on a growth trend, an
 * unhandled rejection, a listener-leak warning or an inconsistent node at the end.
 *
 *   npm run soak                      # 10,000 cycles
 *   npm run soak -- --cycles 50000 --seed 3
 */
import { parseArgs } from 'node:util';
import { formatReport, runSoak } from '../reliability/soak.ts';

const { values } = parseArgs({
  options: { cycles: { type: 'string', default: '10000' }, seed: { type: 'string', default: '1' }, factor: { type: 'string', default: '100' } },
});
const cycles = Math.max(10_000, Number(values.cycles));
const MiB = 2 ** 20;
// The first 2,000 cycles warm up (code paths first taken and compiled); the trends are measured
// over the cycles after them.
const report = await runSoak({ cycles: cycles + 2000, warmupCycles: 2000, seed: Number(values.seed), factor: Number(values.factor), sampleEvery: Math.floor(cycles / 100), log: (l) => console.log(l) });
console.log(formatReport(report));

const failures: string[] = [];
// Over the second half, after full GCs: the heap must not climb by more than 256 KiB per 1000
// cycles (a leak of one object per poll shows up well above that), nor handles by one.
if (report.heap.slopePer1000 > 256 * 1024) failures.push(`heap grows ${(report.heap.slopePer1000 / MiB).toFixed(2)} MiB per 1000 cycles`);
if (report.handles.slopePer1000 > 1) failures.push(`handles grow ${report.handles.slopePer1000.toFixed(2)} per 1000 cycles`);
if (report.rss.slopePer1000 > 2 * MiB) failures.push(`RSS grows ${(report.rss.slopePer1000 / MiB).toFixed(2)} MiB per 1000 cycles`);
if (report.unhandledRejections) failures.push(`${report.unhandledRejections} unhandled rejections`);
if (report.uncaughtWarnings.length) failures.push(`leak warnings: ${report.uncaughtWarnings.join(' | ')}`);
if (!report.finalConsistent) failures.push(`final state: ${report.finalProblems.join('; ') || 'did not converge'}`);
console.log(failures.length ? `SOAK FAILED: ${failures.join('; ')}` : 'soak passed: no growth trend, no unhandled rejection, node consistent');
process.exit(failures.length ? 1 : 0);
