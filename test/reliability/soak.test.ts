import { describe, expect, it } from 'vitest';
import { formatReport, runSoak } from './soak.ts';

/**
 * The short soak (the long one is `npm run soak`): 3,000 accelerated poll cycles of the real
 * agent loop with random faults on both sides. No growth trend in heap or handles, no unhandled
 * rejection, no listener-leak warning, and a consistent node at the end.
 */
describe('soak (short)', () => {
  it('3,000 cycles (1,500 measured) with random faults: no growth, no unhandled rejection, a consistent node', async () => {
    const report = await runSoak({ cycles: 3000, warmupCycles: 1500, seed: 7, sampleEvery: 75 });
    console.log(formatReport(report));
    expect(report.cycles).toBeGreaterThanOrEqual(3000);
    expect(report.samples.length).toBeGreaterThanOrEqual(15);
    expect(report.unhandledRejections).toBe(0);
    expect(report.uncaughtWarnings).toEqual([]);
    expect(report.finalProblems).toEqual([]);
    expect(report.finalConsistent).toBe(true);
    // Bounds, not timings. After a full GC the heap wanders by some 100 KiB; a leak of 1 KiB per
    // poll would climb 1 MiB per 1000 cycles. Sockets come and go with the faults (both ends are
    // in this process), so handles swing, but one leaked per poll would climb 1000 per 1000.
    expect(report.heap.slopePer1000).toBeLessThan(512 * 1024);
    expect(report.handles.slopePer1000).toBeLessThan(10);
    expect(report.handles.max).toBeLessThan(120);
    expect(Object.keys(report.faultsInjected).length).toBeGreaterThanOrEqual(10);
  }, 120_000);
});
