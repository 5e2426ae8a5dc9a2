import type { NodeKeys } from '../keys/keys.ts';
import type { ScheduledEvent, ScheduledEventsDocument } from '../imds/scheduledEvents.ts';

/**
 * Scheduled events → what the node should show, as pure functions (no I/O, no clock): which
 * events are this VM's, the condition, the next-event annotation, the maintenance taint, and what
 * changed between two documents (for the Kubernetes Events).
 *
 * Nothing here carries a time that moves on its own (no "in 5 minutes"): the same events give the
 * same condition, annotation and taint, so a poll that finds nothing new writes nothing.
 */

export interface MaintenanceOptions {
  /** compute.name of the instance document: the name `Resources` lists. */
  vmName: string;
  /** Event types that make the condition True and (with `taint`) taint the node; others are informational. */
  disruptive: readonly string[];
  /** Whether the maintenance taint is wanted while a disruptive event is pending. */
  taint: boolean;
  keys: NodeKeys;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface DesiredCondition {
  status: ConditionStatus;
  reason: string;
  message: string;
}

/** The node's share of the desired state that comes from scheduled events. */
export interface Maintenance {
  /** The agent's condition; null when there should be none (the feature is off), undefined to leave it as it is. */
  condition: DesiredCondition | null | undefined;
  /** Annotations to write: the next event, when there is one. */
  annotations: Record<string, string>;
  /** Annotation keys to leave as the node has them: the events are not known right now. */
  unknownAnnotations: string[];
  /** The maintenance taint: true on, false off, undefined left as the node has it. */
  taint: boolean | undefined;
}

/** The feature is off: none of it on the node (what an earlier config wrote is taken back). */
export const MAINTENANCE_OFF: Maintenance = Object.freeze({ condition: null, annotations: {}, unknownAnnotations: [], taint: false }) as Maintenance;

/**
 * The events whose `Resources` name this VM, next first. Azure sends the events of every VM of
 * the availability set or placement group to each of them; VM names compare without case, as
 * Azure compares them.
 */
export function eventsForVm(document: ScheduledEventsDocument, vmName: string): ScheduledEvent[] {
  const name = vmName.toLowerCase();
  if (name === '') return [];
  return document.events.filter((e) => e.resources.some((r) => r.toLowerCase() === name)).sort(byNext);
}

/** Started events first, then by NotBefore (none last), then by id: a stable order. */
function byNext(a: ScheduledEvent, b: ScheduledEvent): number {
  const started = Number(b.status === 'Started') - Number(a.status === 'Started');
  if (started !== 0) return started;
  const at = (e: ScheduledEvent) => e.notBefore ?? Number.POSITIVE_INFINITY;
  if (at(a) !== at(b)) return at(a) < at(b) ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** This VM's events (from eventsForVm) → condition, annotation and taint. */
export function maintenanceOf(events: readonly ScheduledEvent[], o: MaintenanceOptions): Maintenance {
  const sorted = [...events].sort(byNext);
  const next = sorted[0];
  const disruptive = sorted.filter((e) => o.disruptive.includes(e.type));
  const annotations: Record<string, string> = next ? { [o.keys.scheduledEventAnnotation]: annotationValue(next, sorted.length) } : {};
  return { condition: conditionOf(sorted, disruptive), annotations, unknownAnnotations: [], taint: o.taint && disruptive.length > 0 };
}

/**
 * Failed events polls in a row before the condition says Unknown. One failure is no news (the
 * next poll comes a period later); three are an outage worth showing.
 */
export const UNKNOWN_AFTER_FAILED_POLLS = 3;

/**
 * The events cannot be read now (IMDS failing poll after poll): the condition says Unknown, and
 * the annotation and the taint stay as they are. An outage never removes a taint that a pending
 * reboot put there, and never removes a label: labels do not depend on scheduled events. The
 * message names no count, so the polls that keep failing write nothing more.
 */
export function unknownMaintenance(o: Pick<MaintenanceOptions, 'keys'>): Maintenance {
  return {
    condition: {
      status: 'Unknown',
      reason: 'ScheduledEventsUnavailable',
      message: `IMDS scheduled events failed ${UNKNOWN_AFTER_FAILED_POLLS} polls in a row or more; the annotation and taint stay as last known`,
    },
    annotations: {},
    unknownAnnotations: [o.keys.scheduledEventAnnotation],
    taint: undefined,
  };
}

function conditionOf(events: readonly ScheduledEvent[], disruptive: readonly ScheduledEvent[]): DesiredCondition {
  const next = disruptive[0];
  if (next) {
    const more = events.length > 1 ? `; ${events.length} events pending` : '';
    return { status: 'True', reason: `${word(next.type)}${word(next.status) || 'Scheduled'}`, message: `${describeEvent(next)}${more}` };
  }
  if (events[0]) return { status: 'False', reason: 'OnlyInformationalEvents', message: `${describeEvent(events[0])} (informational)${events.length > 1 ? `; ${events.length} events pending` : ''}` };
  return { status: 'False', reason: 'NoMaintenanceScheduled', message: 'no scheduled event for this VM' };
}

/** One line for people: "Reboot Scheduled by Platform not before 2026-01-01T10:00:00Z, impact about 15s (event 1A2B...)". */
export function describeEvent(e: ScheduledEvent): string {
  const when = e.notBefore === undefined ? '' : ` not before ${iso(e.notBefore)}`;
  const impact = e.durationSeconds === undefined || e.durationSeconds < 0 ? '' : e.durationSeconds === 0 ? ', no impact expected' : `, impact about ${e.durationSeconds}s`;
  return `${e.type || 'Event'} ${e.status || 'Scheduled'}${e.source ? ` by ${e.source}` : ''}${when}${impact} (event ${e.id})`;
}

/** The next event as the annotation carries it: JSON with fixed key order. */
function annotationValue(e: ScheduledEvent, pending: number): string {
  return JSON.stringify({
    eventId: e.id,
    type: e.type,
    status: e.status,
    notBefore: e.notBefore === undefined ? '' : iso(e.notBefore),
    durationSeconds: e.durationSeconds ?? null,
    source: e.source,
    pending,
  });
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');

/** A condition reason is CamelCase: whatever Azure sends is cut to letters and digits. */
const word = (s: string) => s.replace(/[^A-Za-z0-9]/g, '');

export type EventChangeKind = 'appeared' | 'started' | 'vanished';

export interface EventChange {
  change: EventChangeKind;
  event: ScheduledEvent;
}

/**
 * What changed for this VM between two lists: an event appeared (perhaps already Started, as on a
 * sudden hardware failure), one went to Started, one vanished (done or cancelled: Azure does not
 * say which). In list order of `after`, vanished ones last.
 */
export function diffEvents(before: readonly ScheduledEvent[], after: readonly ScheduledEvent[]): EventChange[] {
  const old = new Map(before.map((e) => [e.id, e]));
  const now = new Set(after.map((e) => e.id));
  const changes: EventChange[] = [];
  for (const e of after) {
    const was = old.get(e.id);
    if (!was) changes.push({ change: 'appeared', event: e });
    else if (was.status !== 'Started' && e.status === 'Started') changes.push({ change: 'started', event: e });
  }
  for (const e of before) if (!now.has(e.id)) changes.push({ change: 'vanished', event: e });
  return changes;
}

/** A Kubernetes Event about a change, shaped as the node client records it. */
export interface Announcement {
  reason: 'MaintenanceScheduled' | 'MaintenanceStarted' | 'MaintenanceEnded';
  type: 'Normal' | 'Warning';
  message: string;
}

/** The Event for a change: a Warning when a disruptive event is coming or under way, Normal otherwise. */
export function announcementOf(c: EventChange, disruptive: readonly string[]): Announcement {
  const warn = disruptive.includes(c.event.type);
  if (c.change === 'vanished') return { reason: 'MaintenanceEnded', type: 'Normal', message: `${describeEvent(c.event)} is no longer listed: done or cancelled` };
  const started = c.change === 'started' || c.event.status === 'Started';
  return { reason: started ? 'MaintenanceStarted' : 'MaintenanceScheduled', type: warn ? 'Warning' : 'Normal', message: describeEvent(c.event) };
}
