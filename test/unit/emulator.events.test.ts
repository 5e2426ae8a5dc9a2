import { describe, expect, it } from 'vitest';
import type { Emulator } from '../../testbed/imds-emulator/server.ts';
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
  ])('%s → %i', async (_name, path, expected) => {
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
