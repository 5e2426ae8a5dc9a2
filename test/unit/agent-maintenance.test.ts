import { describe, expect, it } from 'vitest';
import { createMaintenanceTracker } from '../../src/agent/maintenance.ts';
import { configSchema } from '../../src/config/schema.ts';
import { ImdsError } from '../../src/imds/imdsError.ts';
import { parseScheduledEvents } from '../../src/imds/scheduledEvents.ts';
import type { NodeEvent } from '../../src/kube/types.ts';
import type { Maintenance } from '../../src/mapping/maintenance.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { FakeClock } from '../helpers/fakeClock.ts';
import { metricSum } from '../helpers/metrics.ts';

const wire = (id: string, o: Record<string, unknown> = {}) => ({
  EventId: id,
  EventType: 'Reboot',
  Resources: ['vm1'],
  EventStatus: 'Scheduled',
  NotBefore: 'Thu, 01 May 2025 12:15:00 GMT',
  EventSource: 'Platform',
  DurationInSeconds: 15,
  ...o,
});
const doc = (incarnation: number, ...events: object[]) => parseScheduledEvents({ DocumentIncarnation: incarnation, Events: events });
const failure = () => new ImdsError({ kind: 'http', endpoint: 'scheduledevents', status: 500, message: 'IMDS scheduledevents: HTTP 500' });

function tracker() {
  const shown: Maintenance[] = [];
  const announced: NodeEvent[] = [];
  const clock = new FakeClock(Date.parse('2025-05-01T12:00:00Z'));
  const metrics = createMetrics({ version: 'test' });
  const config = configSchema.parse({ scheduledEvents: { enabled: true, taint: true } });
  const t = createMaintenanceTracker(config, { setMaintenance: (m) => shown.push(m), announce: (e) => announced.push(e) }, { logger: silentLogger(), metrics, clock });
  return { t, shown, announced, clock, metrics };
}

describe('the maintenance tracker between the events poller and the syncer', () => {
  it('waits for the VM name: events cannot be matched before the instance document', () => {
    const { t, shown } = tracker();
    t.onDocument(doc(1, wire('r')));
    expect(shown).toEqual([]);
    t.onVmName('vm1');
    expect(shown.map((m) => m.condition?.reason)).toEqual(['RebootScheduled']);
  });

  it('the same DocumentIncarnation again: nothing handed on, nothing announced', () => {
    const { t, shown, announced } = tracker();
    t.onVmName('vm1');
    for (let i = 0; i < 10; i++) t.onDocument(doc(4, wire('r')));
    expect(shown).toHaveLength(1);
    expect(announced.map((e) => e.reason)).toEqual(['MaintenanceScheduled']);
  });

  it('each change of the list: the new state, and an Event per event that appeared, started or vanished', () => {
    const { t, shown, announced } = tracker();
    t.onVmName('vm1');
    t.onDocument(doc(1));
    t.onDocument(doc(2, wire('r'), wire('other', { Resources: ['vm2'] })));
    t.onDocument(doc(3, wire('r', { EventStatus: 'Started', NotBefore: '' })));
    t.onDocument(doc(4));
    expect(shown.map((m) => [m.condition?.status, m.condition?.reason, m.taint])).toEqual([
      ['False', 'NoMaintenanceScheduled', false],
      ['True', 'RebootScheduled', true],
      ['True', 'RebootStarted', true],
      ['False', 'NoMaintenanceScheduled', false],
    ]);
    expect(announced.map((e) => [e.reason, e.type])).toEqual([
      ['MaintenanceScheduled', 'Warning'],
      ['MaintenanceStarted', 'Warning'],
      ['MaintenanceEnded', 'Normal'],
    ]);
  });

  it('another VM name (a rename seen in the instance document) filters again', () => {
    const { t, shown } = tracker();
    t.onVmName('vm1');
    t.onDocument(doc(1, wire('theirs', { Resources: ['vm2'] })));
    t.onVmName('vm2');
    expect(shown.map((m) => m.condition?.reason)).toEqual(['NoMaintenanceScheduled', 'RebootScheduled']);
  });

  it('three failed polls in a row: Unknown once; the next answer shows the events again', () => {
    const { t, shown } = tracker();
    t.onVmName('vm1');
    t.onDocument(doc(1, wire('r')));
    t.onError(failure());
    t.onError(failure());
    expect(shown).toHaveLength(1);
    for (let i = 0; i < 5; i++) t.onError(failure());
    expect(shown.map((m) => m.condition?.status)).toEqual(['True', 'Unknown']);
    expect(shown[1]).toMatchObject({ taint: undefined, unknownAnnotations: ['imds-labeler.io/scheduled-event'] });
    t.onDocument(doc(1, wire('r')));
    expect(shown.map((m) => m.condition?.status)).toEqual(['True', 'Unknown', 'True']);
  });

  it('a failure or two between answers changes nothing on the node', () => {
    const { t, shown } = tracker();
    t.onVmName('vm1');
    t.onDocument(doc(1, wire('r')));
    t.onError(failure());
    t.onError(failure());
    t.onDocument(doc(1, wire('r')));
    t.onError(failure());
    t.onError(failure());
    expect(shown).toHaveLength(1);
  });

  it('metrics: pending by type (every type from 0), seconds to NotBefore, incarnation', async () => {
    const { t, clock, metrics } = tracker();
    t.onVmName('vm1');
    const before = await metricSum(metrics.scheduledEventsPending, { event_type: 'Freeze' });
    expect(before).toBe(0);
    t.onDocument(doc(6, wire('r'), wire('f', { EventType: 'Freeze', NotBefore: 'Thu, 01 May 2025 12:05:00 GMT' }), wire('x', { Resources: ['vm2'] })));
    expect(await metricSum(metrics.scheduledEventsPending, { event_type: 'Reboot' })).toBe(1);
    expect(await metricSum(metrics.scheduledEventsPending, { event_type: 'Freeze' })).toBe(1);
    expect(await metricSum(metrics.scheduledEventSecondsUntil, { event_type: 'Reboot' })).toBe(900);
    expect(await metricSum(metrics.scheduledEventsIncarnation)).toBe(6);
    await clock.advance(60_000);
    t.onDocument(doc(6, wire('r'), wire('f', { EventType: 'Freeze', NotBefore: 'Thu, 01 May 2025 12:05:00 GMT' })));
    expect(await metricSum(metrics.scheduledEventSecondsUntil, { event_type: 'Reboot' })).toBe(840);
    t.onDocument(doc(7));
    expect(await metricSum(metrics.scheduledEventsPending)).toBe(0);
    expect(await metricSum(metrics.scheduledEventSecondsUntil)).toBe(0);
  });
});
