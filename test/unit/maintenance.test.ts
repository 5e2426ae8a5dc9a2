import { describe, expect, it } from 'vitest';
import { parseScheduledEvents, type ScheduledEvent } from '../../src/imds/scheduledEvents.ts';
import { nodeKeys } from '../../src/keys/keys.ts';
import { announcementOf, diffEvents, eventsForVm, maintenanceOf, unknownMaintenance, type MaintenanceOptions } from '../../src/mapping/maintenance.ts';

const keys = nodeKeys('imds-labeler.io');
const ANNOTATION = 'imds-labeler.io/scheduled-event';
const DISRUPTIVE = ['Reboot', 'Redeploy', 'Preempt', 'Terminate'];
const options = (o: Partial<MaintenanceOptions> = {}): MaintenanceOptions => ({ vmName: 'vm1', disruptive: DISRUPTIVE, taint: false, keys, ...o });

/** A wire event as IMDS sends it. */
const wire = (id: string, o: Record<string, unknown> = {}) => ({
  EventId: id,
  EventType: 'Reboot',
  ResourceType: 'VirtualMachine',
  Resources: ['vm1'],
  EventStatus: 'Scheduled',
  NotBefore: 'Mon, 05 May 2025 12:15:00 GMT',
  Description: 'Host maintenance',
  EventSource: 'Platform',
  DurationInSeconds: 15,
  ...o,
});
const doc = (events: object[], incarnation = 1) => parseScheduledEvents({ DocumentIncarnation: incarnation, Events: events });
const event = (id: string, o: Record<string, unknown> = {}): ScheduledEvent => doc([wire(id, o)]).events[0]!;

describe('parseScheduledEvents', () => {
  it('reads the wire document: NotBefore as a time, the duration as a number', () => {
    expect(doc([wire('a')], 7)).toEqual({
      incarnation: 7,
      events: [{ id: 'a', type: 'Reboot', status: 'Scheduled', resources: ['vm1'], notBefore: Date.parse('2025-05-05T12:15:00Z'), durationSeconds: 15, source: 'Platform', description: 'Host maintenance' }],
    });
  });

  it.each<[string, Record<string, unknown>, Partial<ScheduledEvent>]>([
    ['a started event has NotBefore ""', { EventStatus: 'Started', NotBefore: '' }, { status: 'Started', notBefore: undefined }],
    ['an unreadable date is no date', { NotBefore: 'soon' }, { notBefore: undefined }],
    ['-1: impact unknown', { DurationInSeconds: -1 }, { durationSeconds: -1 }],
    ['a duration sent as a string', { DurationInSeconds: '9' }, { durationSeconds: 9 }],
    ['no Resources', { Resources: null }, { resources: [] }],
    ['a type this build does not know is kept', { EventType: 'Hibernate' }, { type: 'Hibernate' }],
  ])('%s', (_name, override, expected) => {
    expect(event('a', override)).toMatchObject(expected);
  });

  it('an empty document: no events', () => {
    expect(parseScheduledEvents({ DocumentIncarnation: 0, Events: [] })).toEqual({ incarnation: 0, events: [] });
  });

  it.each<[string, unknown, string]>([
    ['not an object', 'x', 'the document'],
    ['no incarnation', { Events: [] }, 'DocumentIncarnation'],
    ['an event without an id', { DocumentIncarnation: 1, Events: [{ EventType: 'Reboot' }] }, 'Events.0.EventId'],
    ['Events not a list', { DocumentIncarnation: 1, Events: 'soon' }, 'Events'],
  ])('refuses %s, naming where', (_name, body, where) => {
    expect(() => parseScheduledEvents(body)).toThrow(where);
  });
});

describe('eventsForVm: only the events whose Resources name this VM', () => {
  const mixed = doc([
    wire('mine', { Resources: ['vm1', 'vm2'] }),
    wire('theirs', { Resources: ['vm2', 'vm3'] }),
    wire('mine-case', { Resources: ['VM1'] }),
    wire('nobody', { Resources: [] }),
    wire('prefix', { Resources: ['vm10'] }),
  ]);

  it.each<[string, string, string[]]>([
    ['vm1: its own, in any case, never a name it is the start of', 'vm1', ['mine', 'mine-case']],
    ['vm3: another VM of the availability set', 'vm3', ['theirs']],
    ['a VM no event names', 'vm9', []],
    ['no name: nothing can be matched', '', []],
  ])('%s', (_name, vm, ids) => {
    expect(eventsForVm(mixed, vm).map((e) => e.id).sort()).toEqual(ids.sort());
  });

  it('orders them next first: Started, then by NotBefore, then by id', () => {
    const d = doc([
      wire('late', { NotBefore: 'Mon, 05 May 2025 14:00:00 GMT' }),
      wire('b-early', { NotBefore: 'Mon, 05 May 2025 12:00:00 GMT' }),
      wire('a-early', { NotBefore: 'Mon, 05 May 2025 12:00:00 GMT' }),
      wire('undated', { NotBefore: '' }),
      wire('running', { EventStatus: 'Started', NotBefore: '' }),
    ]);
    expect(eventsForVm(d, 'vm1').map((e) => e.id)).toEqual(['running', 'a-early', 'b-early', 'late', 'undated']);
  });
});

describe('maintenanceOf: the events → condition, annotation, taint', () => {
  const freeze = event('f', { EventType: 'Freeze', DurationInSeconds: 9, NotBefore: 'Mon, 05 May 2025 12:05:00 GMT' });
  const reboot = event('r');
  const preemptStarted = event('p', { EventType: 'Preempt', EventStatus: 'Started', NotBefore: '', DurationInSeconds: -1 });

  it.each<[string, ScheduledEvent[], boolean, { status: string; reason: string; message: string }, boolean]>([
    ['no events', [], true, { status: 'False', reason: 'NoMaintenanceScheduled', message: 'no scheduled event for this VM' }, false],
    [
      'a reboot',
      [reboot],
      false,
      { status: 'True', reason: 'RebootScheduled', message: 'Reboot Scheduled by Platform not before 2025-05-05T12:15:00Z, impact about 15s (event r)' },
      false,
    ],
    ['a reboot, taint on', [reboot], true, { status: 'True', reason: 'RebootScheduled', message: expect.stringContaining('event r') as unknown as string }, true],
    [
      'a freeze alone is informational: no taint',
      [freeze],
      true,
      { status: 'False', reason: 'OnlyInformationalEvents', message: 'Freeze Scheduled by Platform not before 2025-05-05T12:05:00Z, impact about 9s (event f) (informational)' },
      false,
    ],
    [
      'a freeze before a reboot: the condition names the reboot and counts both',
      [freeze, reboot],
      true,
      { status: 'True', reason: 'RebootScheduled', message: expect.stringMatching(/event r\); 2 events pending$/) as unknown as string },
      true,
    ],
    ['a preemption under way', [preemptStarted, reboot], true, { status: 'True', reason: 'PreemptStarted', message: 'Preempt Started by Platform (event p); 2 events pending' }, true],
  ])('%s', (_name, events, taint, condition, tainted) => {
    const m = maintenanceOf(events, options({ taint }));
    expect(m.condition).toEqual(condition);
    expect(m.taint).toBe(tainted);
    expect(m.unknownAnnotations).toEqual([]);
    expect(Object.keys(m.annotations)).toEqual(events.length ? [ANNOTATION] : []);
  });

  it('the annotation is the next event of any type, as JSON in a fixed key order', () => {
    const m = maintenanceOf([reboot, freeze], options());
    expect(m.annotations[ANNOTATION]).toBe('{"eventId":"f","type":"Freeze","status":"Scheduled","notBefore":"2025-05-05T12:05:00Z","durationSeconds":9,"source":"Platform","pending":2}');
    const started = maintenanceOf([preemptStarted], options());
    expect(JSON.parse(started.annotations[ANNOTATION]!)).toEqual({ eventId: 'p', type: 'Preempt', status: 'Started', notBefore: '', durationSeconds: -1, source: 'Platform', pending: 1 });
  });

  it('Freeze counts as disruptive when configured so', () => {
    expect(maintenanceOf([freeze], options({ disruptive: ['Freeze'], taint: true }))).toMatchObject({ condition: { status: 'True', reason: 'FreezeScheduled' }, taint: true });
  });

  it('the same events give the same state whatever their order: a re-poll writes nothing', () => {
    expect(maintenanceOf([freeze, reboot, preemptStarted], options())).toEqual(maintenanceOf([preemptStarted, reboot, freeze], options()));
  });

  it('a reason is letters and digits whatever Azure sends', () => {
    expect(maintenanceOf([event('x', { EventType: 'Re-boot v2' })], options({ disruptive: ['Re-boot v2'] })).condition?.reason).toBe('Rebootv2Scheduled');
  });

  it('unknown: Unknown condition, annotation and taint left as the node has them', () => {
    expect(unknownMaintenance({ keys })).toEqual({
      condition: { status: 'Unknown', reason: 'ScheduledEventsUnavailable', message: expect.stringContaining('3 polls in a row') },
      annotations: {},
      unknownAnnotations: [ANNOTATION],
      taint: undefined,
    });
  });
});

describe('diffEvents and announcementOf: the Kubernetes Events', () => {
  const a = event('a');
  const aStarted = event('a', { EventStatus: 'Started', NotBefore: '' });
  const b = event('b', { EventType: 'Freeze' });
  const c = event('c', { EventType: 'Terminate', EventStatus: 'Started', NotBefore: '' });

  it.each<[string, ScheduledEvent[], ScheduledEvent[], [string, string][]]>([
    ['nothing before: every event appeared', [], [a, b], [['appeared', 'a'], ['appeared', 'b']]],
    ['the same list: nothing', [a, b], [a, b], []],
    ['one started', [a, b], [aStarted, b], [['started', 'a']]],
    ['one vanished (done or cancelled)', [a, b], [a], [['vanished', 'b']]],
    ['one arrived already started (a sudden failure)', [a], [c, a], [['appeared', 'c']]],
    ['a started event stays started: nothing', [aStarted], [aStarted], []],
    ['all gone', [aStarted, b], [], [['vanished', 'a'], ['vanished', 'b']]],
  ])('%s', (_name, before, after, expected) => {
    expect(diffEvents(before, after).map((d) => [d.change, d.event.id])).toEqual(expected);
  });

  it.each<[string, Parameters<typeof announcementOf>[0], { reason: string; type: string }]>([
    ['a disruptive event appears: Warning', { change: 'appeared', event: a }, { reason: 'MaintenanceScheduled', type: 'Warning' }],
    ['a freeze appears: Normal', { change: 'appeared', event: b }, { reason: 'MaintenanceScheduled', type: 'Normal' }],
    ['one appears already started', { change: 'appeared', event: c }, { reason: 'MaintenanceStarted', type: 'Warning' }],
    ['one starts', { change: 'started', event: aStarted }, { reason: 'MaintenanceStarted', type: 'Warning' }],
    ['one vanishes: Normal', { change: 'vanished', event: a }, { reason: 'MaintenanceEnded', type: 'Normal' }],
  ])('%s', (_name, change, expected) => {
    const announcement = announcementOf(change, DISRUPTIVE);
    expect(announcement).toMatchObject(expected);
    expect(announcement.message).toContain(`(event ${change.event.id})`);
  });
});
