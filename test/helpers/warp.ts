import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Accelerated time. A simulated hour of a 60 s poll period is 60 polls, 8 watch renewals and 6
 * resyncs; the same hour at `factor` x goes by in 3600/factor wall seconds.
 *
 * The agent process gets a preload (`node -r warp.cjs`) that makes Date.now() run `factor` times
 * faster and divides every setTimeout/setInterval delay by `factor`: the poller, the IMDS rate
 * limiter (2 requests per agent-second become 2·factor per wall second), the watch timeouts and
 * watchdog, the resync and the retry backoffs all run on it. The agent's own code is not changed.
 * Things that use neither (socket timeouts, V8's idle-time GC) keep wall time.
 *
 * The sandbox in the benchmark process gets `new ScaledClock(factor)` (fakeClock.ts), so the watch timeouts it
 * enforces and the bookmarks it sends are in the same agent time.
 */

const PRELOAD = `'use strict';
// Benchmark only: time runs \${factor} times faster (see test/helpers/warp.ts).
const factor = Number(process.env.IMDS_LABELER_BENCH_WARP || 1);
if (factor > 1) {
  const timers = require('node:timers');
  const wallNow = Date.now;
  const t0 = wallNow();
  Date.now = () => Math.floor(t0 + (wallNow() - t0) * factor);
  const setTimeout0 = timers.setTimeout;
  const setInterval0 = timers.setInterval;
  const scaled = (ms, floor) => Math.max(floor, (Number(ms) || 0) / factor);
  globalThis.setTimeout = timers.setTimeout = function setTimeout(fn, ms, ...args) { return setTimeout0(fn, scaled(ms, 0), ...args); };
  globalThis.setInterval = timers.setInterval = function setInterval(fn, ms, ...args) { return setInterval0(fn, scaled(ms, 1), ...args); };
}
`;

export const WARP_ENV = 'IMDS_LABELER_BENCH_WARP';

/** Writes the preload into `dir`; run the agent with `-r <path>` and WARP_ENV=factor. */
export function writeWarpPreload(dir: string): string {
  const path = join(dir, 'warp.cjs');
  writeFileSync(path, PRELOAD);
  return path;
}
