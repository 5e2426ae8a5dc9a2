/**
 * A small fleet against a real kube-apiserver, counted by the API server itself: the fleet
 * benchmark's code (test/fleet/: the agents, the real API server under test, the scenarios and
 * their expected counts), asserted instead of printed. Twenty agents, each the product's
 * loops with the chart's default config, in accelerated agent time; the control plane is this
 * file's own, so no other test's requests are in apiserver_request_total. Counts only, no timings.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { startRealApiServer, type ApiServerUnderTest } from '../fleet/apiServer.ts';
import { startFleet, type Fleet } from '../fleet/agents.ts';
import { countedFor, firstLabels, mismatches, steadyState, tagChange, type FleetContext } from '../fleet/scenarios.ts';
import { ScaledClock } from '../helpers/fakeClock.ts';

const N = 20;
/** Agent time per wall second while agents write, and for the quiet minutes. */
const WRITE_SPEED = 10;
const QUIET_SPEED = 60;
const names = Array.from({ length: N }, (_, i) => `fleet-node-${String(i).padStart(2, '0')}`);
const clock = new ScaledClock(WRITE_SPEED);
let server: ApiServerUnderTest;
let fleet: Fleet;
let ctx: FleetContext;

beforeAll(async () => {
  server = await startRealApiServer(names);
  fleet = await startFleet({ server, names, config: configSchema.parse({}), clock, logger: silentLogger() });
  ctx = { server, fleet, clock, timeoutMs: 90_000 };
}, 180_000);
afterAll(async () => {
  await fleet?.stop();
  await server?.stop();
});

describe(`a fleet of ${N} agents on a real kube-apiserver, by its apiserver_request_total`, () => {
  it('first labelling: one PATCH per node, one LIST per agent, one Event per node', async () => {
    const r = await firstLabels(ctx, 10_000);
    expect(mismatches(r)).toEqual([]);
    expect(countedFor(r.counted, 'PATCH nodes')).toBe(N);
  });

  it('steady state for 20 minutes of agent time: no PATCH, no LIST, no Event; the watches go on', async () => {
    clock.setFactor(QUIET_SPEED);
    const r = await steadyState(ctx, 20 * 60_000);
    clock.setFactor(WRITE_SPEED);
    expect(mismatches(r)).toEqual([]);
    expect(countedFor(r.counted, 'PATCH nodes')).toBe(0);
    expect(countedFor(r.counted, 'LIST nodes')).toBe(0);
    // Watch timeouts are 5–10 minutes: every agent watched again, from its resourceVersion.
    expect(countedFor(r.counted, 'WATCH nodes')).toBeGreaterThanOrEqual(N);
  });

  it('a tag change on every VM at once: exactly one PATCH per node', async () => {
    const r = await tagChange(ctx, 'v2', 30_000);
    expect(mismatches(r)).toEqual([]);
    expect(countedFor(r.counted, 'PATCH nodes')).toBe(N);
  });
});
