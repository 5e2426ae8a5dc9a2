import { describe, expect, it } from 'vitest';
import type { Emulator } from '../../testbed/imds-emulator/server.ts';
import { FakeClock } from '../helpers/fakeClock.ts';
import { emulatorPerTest, imds, rawRequest } from '../helpers/emulator.ts';

const EVENTS = '/metadata/scheduledevents?api-version=2020-07-01';

const emulator = emulatorPerTest();

const freeze = (id: string) => ({
  EventId: id,
  EventType: 'Freeze',
  ResourceType: 'VirtualMachine',
  Resources: ['vm1'],
  EventStatus: 'Scheduled',
  NotBefore: 'Mon, 19 Sep 2016 18:29:47 GMT',
  Description: 'Host maintenance',
  EventSource: 'Platform',
  DurationInSeconds: 9,
});

const fixture = (events: object[], incarnation = 5) => ({ compute: { name: 'vm1' }, scheduledEvents: { DocumentIncarnation: incarnation, Events: events } });

const approve = (e: Emulator, ids: string[], headers: Record<string, string> = { Metadata: 'true' }) =>
  rawRequest(e.url + EVENTS, { method: 'POST', headers, body: JSON.stringify({ StartRequests: ids.map((EventId) => ({ EventId })) }) });

const events = async (e: Emulator) => {
  const res = await imds(e.url, EVENTS);
  expect(res.status).toBe(200);
  return JSON.parse(res.body) as { DocumentIncarnation: number; Events: { EventId: string }[] };
};

describe('scheduled events', () => {
  it('GET answers the fixture section', async () => {
    const e = await emulator({ fixture: fixture([freeze('a'), freeze('b')]) });
    const res = await imds(e.url, EVENTS);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(res.body)).toEqual({ DocumentIncarnation: 5, Events: [freeze('a'), freeze('b')] });
  });

  it('a fixture without the section has no events', async () => {
    const e = await emulator();
    expect(await events(e)).toEqual({ DocumentIncarnation: 0, Events: [] });
  });

  it('the spot fixture has a Preempt event', async () => {
    const e = await emulator({ fixture: 'spot' });
    const doc = await events(e);
    expect(doc.Events).toEqual([expect.objectContaining({ EventType: 'Preempt', EventStatus: 'Scheduled' })]);
  });

  it('POST StartRequests approves: the event leaves and DocumentIncarnation goes up', async () => {
    const e = await emulator({ fixture: fixture([freeze('a'), freeze('b')]) });
    const res = await approve(e, ['a']);
    expect(res.status).toBe(200);
    expect(await events(e)).toEqual({ DocumentIncarnation: 6, Events: [freeze('b')] });
    expect((await approve(e, ['b'])).status).toBe(200);
    expect(await events(e)).toEqual({ DocumentIncarnation: 7, Events: [] });
  });

  it('approving an unknown event changes nothing', async () => {
    const e = await emulator({ fixture: fixture([freeze('a')]) });
    expect((await approve(e, ['zzz'])).status).toBe(200);
    expect(await events(e)).toEqual({ DocumentIncarnation: 5, Events: [freeze('a')] });
  });

  it('approving several at once bumps the incarnation once', async () => {
    const e = await emulator({ fixture: fixture([freeze('a'), freeze('b'), freeze('c')]) });
    await approve(e, ['a', 'c']);
    expect(await events(e)).toEqual({ DocumentIncarnation: 6, Events: [freeze('b')] });
  });

  it.each<[string, string]>([
    ['not JSON', '{'],
    ['no StartRequests', '{}'],
    ['empty StartRequests', '{"StartRequests":[]}'],
    ['an EventId that is not a string', '{"StartRequests":[{"EventId":1}]}'],
  ])('POST with %s → 400', async (_name, body) => {
    const e = await emulator({ fixture: fixture([freeze('a')]) });
    const res = await rawRequest(e.url + EVENTS, { method: 'POST', headers: { Metadata: 'true' }, body });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error).toMatch(/StartRequests/);
    expect((await events(e)).Events).toHaveLength(1);
  });

  it.each<[string, string, number]>([
    ['no api-version', '/metadata/scheduledevents', 400],
    ['an instance-only api-version', '/metadata/scheduledevents?api-version=2021-02-01', 400],
    ['2019-08-01', '/metadata/scheduledevents?api-version=2019-08-01', 200],
    ['2017-11-01', '/metadata/scheduledevents?api-version=2017-11-01', 200],
  ])('%s: %s → %i', async (_name, path, expected) => {
    const e = await emulator();
    const res = await imds(e.url, path);
    expect(res.status).toBe(expected);
    if (expected === 400) expect(JSON.parse(res.body)['newest-versions']).toEqual(['2020-07-01', '2019-08-01', '2019-01-01']);
  });

  it('POST needs the Metadata header', async () => {
    const e = await emulator({ fixture: fixture([freeze('a')]) });
    expect((await approve(e, ['a'], {})).status).toBe(400);
    expect((await events(e)).Events).toHaveLength(1);
  });

  it('approvals survive an unrelated fixture change; a new events section starts over', async () => {
    const e = await emulator({ fixture: fixture([freeze('a'), freeze('b')]) });
    await approve(e, ['a']);
    e.setFixture({ ...fixture([freeze('a'), freeze('b')]), compute: { name: 'vm1', tags: 'changed:yes' } });
    expect(await events(e)).toEqual({ DocumentIncarnation: 6, Events: [freeze('b')] });
    e.setFixture(fixture([freeze('c')], 9));
    expect(await events(e)).toEqual({ DocumentIncarnation: 9, Events: [freeze('c')] });
  });

  it('counts against the throttle like every IMDS call', async () => {
    const e = await emulator({ rateLimitPerSecond: 5, fixture: fixture([]) });
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await imds(e.url, EVENTS)).status);
    expect(statuses.filter((s) => s === 429)).toHaveLength(1);
  });
});

const control = (e: Emulator, path: string, method: string, body?: object) =>
  rawRequest(`${e.url}/_emulator/scheduledevents${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });

const reboot = (id: string, resources = ['vm1']) => ({ ...freeze(id), EventType: 'Reboot', Resources: resources });

describe('scheduled events as the platform changes them (control endpoints)', () => {
  it.each<[string, (e: Emulator) => Promise<unknown>, number, string[], string | undefined]>([
    ['the platform cancels an event: it vanishes', (e) => control(e, '/a', 'DELETE'), 6, ['b'], 'Scheduled'],
    ['the platform starts an event: Started, same id', (e) => control(e, '/a/start', 'POST'), 6, ['a', 'b'], 'Started'],
    ['publishing the same list again changes nothing', (e) => control(e, '', 'PUT', { Events: [freeze('a'), freeze('b')] }), 5, ['a', 'b'], 'Scheduled'],
    ['publishing a new list bumps the incarnation once', (e) => control(e, '', 'PUT', { Events: [reboot('c')] }), 6, ['c'], 'Scheduled'],
  ])('%s', async (_name, change, incarnation, ids, firstStatus) => {
    const e = await emulator({ fixture: fixture([freeze('a'), freeze('b')]) });
    await change(e);
    const doc = (await events(e)) as { DocumentIncarnation: number; Events: { EventId: string; EventStatus: string }[] };
    expect(doc.DocumentIncarnation).toBe(incarnation);
    expect(doc.Events.map((ev) => ev.EventId)).toEqual(ids);
    expect(doc.Events[0]?.EventStatus).toBe(firstStatus);
  });

  it.each<[string, string, string, number, object | undefined]>([
    ['cancelling an unknown event', '/zzz', 'DELETE', 404, undefined],
    ['starting an unknown event', '/zzz/start', 'POST', 404, undefined],
    ['an unknown action', '/a/finish', 'POST', 404, undefined],
    ['a list without EventIds', '', 'PUT', 400, { Events: [{ EventType: 'Reboot' }] }],
    ['a body that is not a list', '', 'PUT', 400, { Events: 'soon' }],
  ])('%s: %s %s → %i, nothing changes', async (_name, path, method, status, body) => {
    const e = await emulator({ fixture: fixture([freeze('a')]) });
    expect((await control(e, path, method, body)).status).toBe(status);
    expect(await events(e)).toEqual({ DocumentIncarnation: 5, Events: [freeze('a')] });
  });

  it('starting an event that already started changes nothing: the incarnation moves once', async () => {
    const e = await emulator({ fixture: fixture([freeze('a')]) });
    await control(e, '/a/start', 'POST');
    await control(e, '/a/start', 'POST');
    expect((await events(e)).DocumentIncarnation).toBe(6);
  });

  it('a published list can hold an event that arrives already started (a sudden failure), with NotBefore empty', async () => {
    const e = await emulator({ fixture: fixture([]) });
    await control(e, '', 'PUT', { Events: [{ ...reboot('now'), EventStatus: 'Started', NotBefore: '' }] });
    expect((await events(e)).Events).toEqual([expect.objectContaining({ EventId: 'now', EventStatus: 'Started', NotBefore: '' })]);
  });

  it('GET /_emulator/scheduledevents reads the document without counting as a call', async () => {
    const e = await emulator({ fixture: fixture([freeze('a')]) });
    const res = await control(e, '', 'GET');
    expect(JSON.parse(res.body)).toEqual({ DocumentIncarnation: 5, Events: [freeze('a')] });
    expect(e.requests().total).toBe(0);
  });

  it('serves events of other VMs of the availability set as they are: filtering is the client\'s job', async () => {
    const e = await emulator({ fixture: fixture([reboot('mine'), reboot('theirs', ['vm2', 'vm3'])]) });
    expect((await events(e)).Events.map((ev) => ev.EventId)).toEqual(['mine', 'theirs']);
  });
});

describe('the scheduled events service turns on at the first call', () => {
  const WARMUP = 120_000;
  const pending = async (clock: FakeClock, e: Emulator) => {
    let answered = false;
    const res = imds(e.url, EVENTS).then((r) => ((answered = true), r));
    // Let the request reach the emulator and start waiting.
    while (clock.pending() === 0) await new Promise((r) => setTimeout(r, 5));
    return { res, answered: () => answered };
  };

  it('the first call waits for the warm-up; the next ones answer at once', async () => {
    const clock = new FakeClock();
    const e = await emulator({ clock, rateLimitPerSecond: 0, scheduledEventsWarmupMs: WARMUP, fixture: fixture([freeze('a')]) });
    const first = await pending(clock, e);
    await clock.advance(WARMUP - 1);
    expect(first.answered()).toBe(false);
    await clock.advance(1);
    expect((await first.res).status).toBe(200);
    expect(clock.pending()).toBe(0);
    expect((await imds(e.url, EVENTS)).status).toBe(200);
  });

  it('a day without calls turns the service off again', async () => {
    const clock = new FakeClock();
    const e = await emulator({ clock, rateLimitPerSecond: 0, scheduledEventsWarmupMs: WARMUP, fixture: fixture([]) });
    const first = await pending(clock, e);
    await clock.advance(WARMUP);
    await first.res;
    await clock.advance(24 * 60 * 60 * 1000);
    const again = await pending(clock, e);
    expect(again.answered()).toBe(false);
    await clock.advance(WARMUP);
    expect((await again.res).status).toBe(200);
  });
});
