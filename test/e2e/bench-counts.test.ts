import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentLabels, startAgent, startCluster, workspace, type AgentProcess, type Cluster, type Workspace } from '../helpers/bundledAgent.ts';

import { ScaledClock } from '../helpers/fakeClock.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

/**
 * The count rows of `npm run bench`, as assertions: the bundled agent, with the image's node
 * options, sends one IMDS request per poll and writes nothing to the API in steady state. Time
 * runs WARP times faster (agent and sandbox) so a half-hour of polls, watch renewals and resyncs
 * fits in a few seconds. Counts only: no timing is asserted.
 */
const WARP = 240;
const PERIOD_MS = 60_000;
const WINDOW_MS = 30 * 60_000;

let ws: Workspace;
let cluster: Cluster;
let agent: AgentProcess | undefined;
const clock = new ScaledClock(WARP);

beforeAll(async () => {
  ws = await workspace();
  cluster = await startCluster(ws.dir, { clock });
});
afterAll(async () => {
  await agent?.stop();
  await cluster?.close();
  ws?.close();
});

describe('benchmark counts (bundled agent)', () => {
  it('one IMDS request per poll cycle and no API writes in steady state', async () => {
    // At 240x a 5 s IMDS timeout is 21 ms of wall time, which a loaded machine can exceed, and the
    // retry would be a second request for one poll: the chart's config with timeouts scaled up, to
    // the largest the config accepts (src/config/schema.ts): 250 ms and 1.25 s of wall time.
    const config = join(ws.dir, 'config-warped.json');
    const chart = JSON.parse(readFileSync(ws.config, 'utf8')) as { imds?: Record<string, unknown> };
    writeFileSync(config, JSON.stringify({ ...chart, imds: { ...chart.imds, connectTimeout: '1m', requestTimeout: '5m' } }));
    agent = startAgent({ ws, cluster, warp: WARP, args: ['--poll-jitter', '0', '--config', config] });
    // Fails at once, with the agent's stderr, if it refuses the config or exits.
    await agent.port();
    await waitFor('labels from the agent', () => Object.keys(agentLabels(cluster.sandbox)).length > 0, { timeoutMs: 30_000, everyMs: 10 });
    // Start-up (first patch and its event) is over after one more poll.
    await sleep((1.5 * PERIOD_MS) / WARP);
    cluster.sandbox.resetCounters();
    cluster.emulator.resetCounters();
    const t0 = clock.now();
    await sleep(WINDOW_MS / WARP);
    const elapsed = clock.now() - t0;
    const imds = cluster.emulator.requests();
    const api = cluster.sandbox.counters();

    // IMDS: the whole document in one GET, never a request per field.
    expect(Object.keys(imds.byPath)).toEqual(['/metadata/instance']);
    // A poll every PERIOD_MS of agent time: at most one request per cycle that fits the window.
    expect(imds.total).toBeLessThanOrEqual(Math.floor(elapsed / PERIOD_MS) + 1);
    expect(imds.total).toBeGreaterThanOrEqual(Math.floor(elapsed / PERIOD_MS / 2));

    // API: nothing written while nothing changes; reads are only watch renewals.
    expect(api.writes).toBe(0);
    expect(api.byVerb).not.toHaveProperty('list');
    expect(api.byVerb).not.toHaveProperty('get');
    // Each watch asks for a timeout in [5 min, 10 min): at most one renewal per 5 min, plus the one open.
    expect(api.byVerb.watch ?? 0).toBeLessThanOrEqual(Math.ceil(elapsed / 300_000) + 1);
  });
});
