import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FaultPlan } from '../../testbed/imds-emulator/faults.ts';
import { agentPart, defaultWire, desiredFor, matchesDesired, nodeMeta, nodeWrites, ownershipProblems, startInProcessAgent, startWorld, wireWithTags, type InProcessAgent, type World } from './harness.ts';
import { waitFor } from '../helpers/wait.ts';
import { IMDS_STATUSES } from '../helpers/imdsStatuses.ts';
import { SkipClock } from '../helpers/fakeClock.ts';

/**
 * The IMDS half of the fault matrix, through the real agent loop in process: every fault starts
 * from a labeled node, and must leave it exactly as it was (no write at all), be counted in the
 * metrics, and end in recovery: a tag added to IMDS during the fault reaches the node once IMDS
 * answers again.
 */

type Fault = NonNullable<FaultPlan['faults']>[number];

let world: World;
let agent: InProcessAgent | undefined;

beforeAll(async () => {
  world = await startWorld({ nodes: ['node-0'] });
});
afterAll(async () => {
  await world?.close();
});
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  world.reset();
});

const RECOVERY_TAG = { name: 'recovered', value: 'yes' };
const afterRecovery = () => wireWithTags([...defaultWire().compute.tagsList!, RECOVERY_TAG]);

/** Starts an agent and waits until the node carries the default fixture's labels. */
async function labeledAgent(config: Record<string, unknown> = {}): Promise<InProcessAgent> {
  const a = await startInProcessAgent(world, { config });
  await waitFor('initial labels', () => matchesDesired(world.sandbox, desiredFor(defaultWire(), a.config)), { accept: Boolean });
  return a;
}

/**
 * The common shape of an IMDS fault: labels kept with no write while the fault lasts and the
 * error is counted, then recovery.
 */
async function throughFault(
  a: InProcessAgent,
  plan: FaultPlan,
  counted: { metric: string; labels: Record<string, string>; atLeast: number },
): Promise<void> {
  const before = nodeMeta(world.sandbox);
  world.sandbox.resetCounters();
  world.emulator.setFaults(plan);
  // IMDS changes during the fault: the agent cannot see it, and must not act on anything else.
  world.emulator.setFixture(afterRecovery());
  const failedPolls = () => a.logs.filter((l) => l.msg === 'IMDS poll failed; labels stay as they are').length;
  const failedBefore = failedPolls();
  await waitFor(`${counted.metric} ${JSON.stringify(counted.labels)} counted`, () => a.metric(counted.metric, counted.labels), { accept: (v) => v >= counted.atLeast });
  await waitFor('two polls failed', failedPolls, { accept: (n) => n >= failedBefore + 2 });
  const during = nodeMeta(world.sandbox);
  expect(during.labels).toEqual(before.labels);
  expect(during.annotations).toEqual(before.annotations);
  expect(nodeWrites(world.sandbox)).toBe(0);

  world.emulator.setFaults({ faults: [] });
  await waitFor('recovery: the tag added during the fault', () => nodeMeta(world.sandbox).labels['tags.imds-labeler.io/recovered'], { accept: (v) => v === 'yes' });
  expect(matchesDesired(world.sandbox, desiredFor(afterRecovery(), a.config))).toBe(true);
  expect(ownershipProblems(world.sandbox)).toEqual([]);
}

const INSTANCE = '/metadata/instance';

describe('IMDS status codes', () => {
  it.each(IMDS_STATUSES)('HTTP $status: labels kept, counted as $retryable retryable, recovery', async ({ status, retryable }) => {
    agent = await labeledAgent();
    await throughFault(
      agent,
      { faults: [{ path: INSTANCE, status }] },
      { metric: 'imds_labeler_imds_errors_total', labels: { code: String(status), class: retryable ? 'retryable' : 'fatal' }, atLeast: 3 },
    );
    if (retryable) expect(await agent.metric('imds_labeler_imds_retries_total')).toBeGreaterThan(0);
    expect(await agent.metric('imds_labeler_imds_requests_total', { code: String(status) })).toBeGreaterThanOrEqual(3);
  });

  it('a burst of 429 with Retry-After: throttles counted, retried within the budget, labels kept', async () => {
    agent = await startInProcessAgent(world, { imdsRandom: () => 0.1, config: { imds: { retryBudget: '10s' } } });
    await waitFor('initial labels', () => matchesDesired(world.sandbox, desiredFor(defaultWire(), agent!.config)), { accept: Boolean });
    const before = nodeMeta(world.sandbox);
    world.sandbox.resetCounters();
    world.emulator.setFaults({ faults: [{ path: INSTANCE, statuses: [429, 429, 429, 429], retryAfter: 1 }] });
    world.emulator.setFixture(afterRecovery());
    // Four 429s in a row, then a normal answer: the retries (Retry-After 1 s wins over the shorter
    // jittered delay) absorb the burst, so the poll succeeds and the change arrives.
    await waitFor('the change after the burst', () => nodeMeta(world.sandbox).labels['tags.imds-labeler.io/recovered'], { accept: (v) => v === 'yes' });
    expect(await agent.metric('imds_labeler_imds_throttled_total')).toBe(4);
    expect(await agent.metric('imds_labeler_imds_retries_total')).toBe(4);
    expect(nodeMeta(world.sandbox).labels).toEqual({ ...before.labels, 'tags.imds-labeler.io/recovered': 'yes' });
    expect(nodeWrites(world.sandbox)).toBe(1);
    expect(agent.logs.filter((l) => l.msg === 'IMDS poll failed; labels stay as they are')).toEqual([]);
  });
});

describe('IMDS down from the start', () => {
  it('nothing is written until IMDS answers once, even over stale labels of a previous run', async () => {
    // A previous run labeled the node; this one starts while IMDS fails.
    agent = await labeledAgent();
    await agent.stop();
    const stale = nodeMeta(world.sandbox);
    world.sandbox.resetCounters();
    world.emulator.setFaults({ faults: [{ path: INSTANCE, status: 500 }] });
    world.emulator.setFixture(afterRecovery());
    agent = await startInProcessAgent(world);
    await waitFor('500s counted', () => agent!.metric('imds_labeler_imds_errors_total', { code: '500' }), { accept: (v) => v >= 4 });
    await waitFor('no reconcile without IMDS', () => agent!.metric('imds_labeler_reconciles_total'), { accept: (v) => v === 0 });
    expect(nodeMeta(world.sandbox).labels).toEqual(stale.labels);
    expect(nodeWrites(world.sandbox)).toBe(0);
    world.emulator.setFaults({ faults: [] });
    await waitFor('labeled once IMDS answers', () => nodeMeta(world.sandbox).labels['tags.imds-labeler.io/recovered'], { accept: (v) => v === 'yes' });
  });
});

describe('IMDS 410 for a while (real time, shortened budget)', () => {
  it('a 410 for 2 s within a 6 s retry budget: ridden out by one poll', async () => {
    agent = await labeledAgent({ imds: { retryBudget: '6s' } });
    world.emulator.setFaults({ faults: [{ path: INSTANCE, status: 410, forSeconds: 2 }] });
    world.emulator.setFixture(afterRecovery());
    await waitFor('the change after the 410s', () => nodeMeta(world.sandbox).labels['tags.imds-labeler.io/recovered'], { accept: (v) => v === 'yes' });
    expect(await agent.metric('imds_labeler_imds_errors_total', { code: '410' })).toBeGreaterThanOrEqual(2);
  });
});

describe('IMDS 410 for 60 s (IMDS says: retry for up to 70 s)', () => {
  // Accelerated: the agent's IMDS stack (retries, rate limiter) and the emulator share a
  // SkipClock, on which every wait takes no real time. The budget is the real default, 70 s.
  let warpWorld: World;
  const clock = new SkipClock();
  beforeAll(async () => {
    warpWorld = await startWorld({ nodes: ['node-0'], emulatorClock: clock });
  });
  afterAll(async () => {
    await warpWorld?.close();
  });

  it('a 410 lasting 60 s is ridden out by one poll within the 70 s budget', async () => {
    agent = await startInProcessAgent(warpWorld, { imdsClock: clock, imdsRandom: () => 0.5, config: { imds: { retryBudget: '70s' } } });
    await waitFor('initial labels', () => matchesDesired(warpWorld.sandbox, desiredFor(defaultWire(), agent!.config)), { accept: Boolean });
    const before = nodeMeta(warpWorld.sandbox);
    warpWorld.emulator.setFaults({ faults: [{ path: INSTANCE, status: 410, forSeconds: 60 }] });
    warpWorld.emulator.setFixture(afterRecovery());
    const skipped = clock.skippedMs;
    await waitFor('the change after the 410s', () => nodeMeta(warpWorld.sandbox).labels['tags.imds-labeler.io/recovered'], { accept: (v) => v === 'yes' });
    // The whole minute of 410s was retried inside one poll: no poll failed.
    expect(agent.logs.filter((l) => l.msg === 'IMDS poll failed; labels stay as they are')).toEqual([]);
    expect(await agent.metric('imds_labeler_imds_errors_total', { code: '410', class: 'retryable' })).toBeGreaterThanOrEqual(5);
    expect(clock.skippedMs - skipped).toBeGreaterThanOrEqual(60_000);
    expect(nodeMeta(warpWorld.sandbox).labels).toEqual({ ...before.labels, 'tags.imds-labeler.io/recovered': 'yes' });
    warpWorld.emulator.setFaults({ faults: [] });
    warpWorld.emulator.setFixture(defaultWire());
  });

  it('a 410 outlasting the budget fails the poll, keeps the labels, and recovers afterwards', async () => {
    agent = await startInProcessAgent(warpWorld, { imdsClock: clock, imdsRandom: () => 0.5, config: { imds: { retryBudget: '70s' } } });
    await waitFor('initial labels', () => matchesDesired(warpWorld.sandbox, desiredFor(defaultWire(), agent!.config)), { accept: Boolean });
    const before = nodeMeta(warpWorld.sandbox);
    warpWorld.sandbox.resetCounters();
    warpWorld.emulator.setFaults({ faults: [{ path: INSTANCE, status: 410, forSeconds: 200 }] });
    warpWorld.emulator.setFixture(afterRecovery());
    await waitFor('a poll that ran out of budget', () => agent!.logs.filter((l) => l.msg === 'IMDS poll failed; labels stay as they are').length, { accept: (n) => n >= 1 });
    const failed = agent.logs.find((l) => l.msg === 'IMDS poll failed; labels stay as they are') as { err: { status: number } };
    expect(failed.err.status).toBe(410);
    expect(nodeMeta(warpWorld.sandbox).labels).toEqual(before.labels);
    expect(nodeWrites(warpWorld.sandbox)).toBe(0);
    await waitFor('recovery after 200 s of 410', () => nodeMeta(warpWorld.sandbox).labels['tags.imds-labeler.io/recovered'], { accept: (v) => v === 'yes' });
    warpWorld.emulator.setFaults({ faults: [] });
    warpWorld.emulator.setFixture(defaultWire());
  });
});

describe('IMDS transport faults', () => {
  const cases: { name: string; fault: Fault; code: string; config?: Record<string, unknown> }[] = [
    { name: 'a server that accepts and never answers', fault: { path: INSTANCE, hang: true }, code: 'timeout' },
    { name: 'an answer later than the request timeout', fault: { path: INSTANCE, latencyMs: 3000 }, code: 'timeout' },
    { name: 'a slow-drip body', fault: { path: INSTANCE, slowDrip: { bytes: 8, intervalMs: 200 } }, code: 'timeout' },
    { name: 'a truncated body', fault: { path: INSTANCE, truncate: true }, code: 'reset' },
    { name: 'a connection reset', fault: { path: INSTANCE, reset: true }, code: 'reset' },
    { name: 'malformed JSON', fault: { path: INSTANCE, malformed: true }, code: 'schema' },
    { name: 'an HTML error page with 200', fault: { path: INSTANCE, html: 200 }, code: 'schema' },
    { name: 'an HTML error page with 502', fault: { path: INSTANCE, html: 502 }, code: '502' },
    { name: 'a 10 MiB body', fault: { path: INSTANCE, hugeBody: { mebibytes: 10 } }, code: 'too_large' },
  ];
  it.each(cases)('$name: labels kept, counted as $code, recovery', async ({ fault, code, config }) => {
    agent = await labeledAgent(config);
    await throughFault(agent, { faults: [fault] }, { metric: 'imds_labeler_imds_errors_total', labels: { code }, atLeast: 2 });
    if (code === 'timeout') expect(await agent.metric('imds_labeler_imds_timeouts_total')).toBeGreaterThanOrEqual(2);
  });
});

/** A stand-in for IMDS that answers every instance request with this raw body. */
async function rawImds(body: () => string): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
    res.end(body());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits: () => hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('IMDS documents that are JSON but not what the agent expects', () => {
  const good = JSON.stringify(defaultWire());
  const withCompute = (compute: Record<string, unknown>) => JSON.stringify({ compute: { ...defaultWire().compute, ...compute }, network: {} });
  it.each([
    { name: 'no compute section', body: JSON.stringify({ network: {} }) },
    { name: 'compute is an array', body: JSON.stringify({ compute: [], network: {} }) },
    { name: 'compute is a string', body: JSON.stringify({ compute: 'x' }) },
    { name: 'the document is an array', body: '[]' },
    { name: 'the document is null', body: 'null' },
    { name: 'tagsList is a string', body: withCompute({ tagsList: 'team:payments' }) },
    { name: 'a tag name is a number', body: withCompute({ tagsList: [{ name: 7, value: 'x' }] }) },
    { name: 'the fault domain is not a number', body: withCompute({ platformFaultDomain: 'two' }) },
    { name: 'the fault domain is negative', body: withCompute({ platformFaultDomain: -1 }) },
    { name: 'the zone is an object', body: withCompute({ zone: { a: 1 } }) },
  ])('$name: refused as a whole, labels kept, counted as schema, recovery', async ({ body }) => {
    let current = good;
    const server = await rawImds(() => current);
    try {
      agent = await startInProcessAgent(world, { endpoint: server.url });
      await waitFor('initial labels', () => matchesDesired(world.sandbox, desiredFor(defaultWire(), agent!.config)), { accept: Boolean });
      const before = nodeMeta(world.sandbox);
      world.sandbox.resetCounters();
      current = body;
      await waitFor('schema errors counted', () => agent!.metric('imds_labeler_imds_errors_total', { code: 'schema', class: 'fatal' }), { accept: (v) => v >= 3 });
      expect(nodeMeta(world.sandbox).labels).toEqual(before.labels);
      expect(nodeMeta(world.sandbox).annotations).toEqual(before.annotations);
      expect(nodeWrites(world.sandbox)).toBe(0);
      current = JSON.stringify(afterRecovery());
      await waitFor('recovery', () => nodeMeta(world.sandbox).labels['tags.imds-labeler.io/recovered'], { accept: (v) => v === 'yes' });
    } finally {
      await server.close();
    }
  });

  it('duplicate keys in the raw JSON: the last one wins, as JSON.parse decides; an exact key beats a case variant', async () => {
    // JSON (RFC 8259) leaves duplicate names undefined; the agent reads IMDS with JSON.parse,
    // which keeps the last value. IMDS never sends duplicates; this pins the behaviour.
    const body = good
      .replace('"zone":"1"', '"zone":"3","zone":"2"')
      .replace('"vmSize":"Standard_A3"', '"vmSize":"Standard_A3","VMSIZE":"Standard_D2"')
      .replace('"tagsList":[', '"tagsList":[{"name":"dup","value":"first"}],"tagsList":[{"name":"dup","value":"last"},');
    expect(body).not.toBe(good);
    const server = await rawImds(() => body);
    try {
      agent = await startInProcessAgent(world, { endpoint: server.url });
      const labels = await waitFor('the last zone', () => nodeMeta(world.sandbox).labels, { accept: (l) => l['imds-labeler.io/zone'] === '2' });
      expect(labels['imds-labeler.io/vm-size']).toBe('Standard_A3');
      expect(labels['tags.imds-labeler.io/dup']).toBe('last');
      expect(labels['tags.imds-labeler.io/foo']).toBe('bar');
      expect(await agent.metric('imds_labeler_imds_errors_total')).toBe(0);
    } finally {
      await server.close();
    }
  });
});

describe('steady state under IMDS faults', () => {
  it('faults never strip a label, across many polls and mixed faults', async () => {
    agent = await labeledAgent();
    const before = agentPart(nodeMeta(world.sandbox).labels);
    world.sandbox.resetCounters();
    world.emulator.resetCounters();
    world.emulator.setFaults({
      faults: [
        { path: INSTANCE, statuses: [500, 429, 404, 410, 400, 503] },
        { path: INSTANCE, malformed: true, times: 2 },
        { path: INSTANCE, html: 200, times: 2 },
        { path: INSTANCE, reset: true, times: 2 },
        { path: INSTANCE, truncate: true, times: 2 },
      ],
    });
    await waitFor('thirty polls and retries', () => world.emulator.requests().byPath[INSTANCE] ?? 0, { accept: (n) => n >= 30 });
    expect(agentPart(nodeMeta(world.sandbox).labels)).toEqual(before);
    expect(nodeWrites(world.sandbox)).toBe(0);
    expect(await agent.metric('imds_labeler_imds_errors_total')).toBeGreaterThanOrEqual(10);
  });
});
