import { ImdsError } from './imdsError.ts';
import type { ImdsClient } from './client.ts';
import { integer, Issues, mapped, nonEmptyText, object, optional, readArray, required, text as string } from './wire.ts';

/**
 * Azure Scheduled Events (`/metadata/scheduledevents`): what the platform is about to do to the
 * VMs of this VM's availability set or placement group. Only the wire shape lives here; which
 * events concern this node and what the node should show for them is src/mapping/maintenance.ts.
 *
 * Facts the code relies on: the list holds only pending events (`Scheduled` or `Started`); one
 * that is done or cancelled simply leaves it, there is no "Completed". `DocumentIncarnation`
 * goes up whenever the list changes. The service is off until the first call, which may take
 * up to two minutes to answer, and turns itself off after 24 hours without a call.
 */

export const SCHEDULED_EVENTS_PATH = '/metadata/scheduledevents';
/** The events API has versions of its own, not the instance API's. */
export const SCHEDULED_EVENTS_API_VERSION = '2020-07-01';

export const EVENT_TYPES = ['Freeze', 'Reboot', 'Redeploy', 'Preempt', 'Terminate'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface ScheduledEvent {
  id: string;
  /** One of EVENT_TYPES, or whatever newer type Azure sends (kept, shown as it is). */
  type: string;
  /** `Scheduled` or `Started` (or a newer status, kept as it is). */
  status: string;
  /** VM names the event is for. */
  resources: string[];
  /** Unix milliseconds; undefined when IMDS sent none ("" once an event has started) or an unreadable date. */
  notBefore: number | undefined;
  /** Expected impact in seconds; -1 unknown, 0 none expected; undefined when not sent. */
  durationSeconds: number | undefined;
  /** `Platform` or `User`. */
  source: string;
  description: string;
}

export interface ScheduledEventsDocument {
  incarnation: number;
  events: ScheduledEvent[];
}

/** Absent and null read as "", numbers as their digits. */
const text = required(mapped((v) => (v === null || v === undefined ? '' : typeof v === 'number' ? String(v) : v), string));

interface WireEvent {
  EventId: string;
  EventType: string;
  EventStatus: string;
  Resources: string[];
  NotBefore: string;
  DurationInSeconds: number | undefined;
  EventSource: string;
  Description: string;
}

const wireEvent = object<WireEvent>({
  EventId: required(nonEmptyText),
  EventType: text,
  EventStatus: text,
  Resources: required(mapped((v) => v ?? [], readArray(string))),
  NotBefore: text,
  DurationInSeconds: optional(mapped((v) => (v === '' || v === null ? undefined : typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v), (v, path, issues) => (v === undefined ? undefined : integer()(v, path, issues)))),
  EventSource: text,
  Description: text,
});

const wireDocument = object<{ DocumentIncarnation: number; Events: WireEvent[] }>({
  DocumentIncarnation: required(mapped((v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v), integer({ min: 0 }))),
  Events: required(mapped((v) => v ?? [], readArray(wireEvent))),
});

/** The typed document, or a DocumentError-like ImdsError (kind schema) naming the first problem. */
export function parseScheduledEvents(body: unknown): ScheduledEventsDocument {
  const issues = new Issues();
  const parsed = wireDocument(body, [], issues);
  if (issues.list.length) {
    const issue = issues.list[0]!;
    const where = issue.path.length ? issue.path.join('.') : 'the document';
    throw new ImdsError({ kind: 'schema', endpoint: 'scheduledevents', message: `IMDS scheduledevents: not a scheduled events document (${where}: ${issue.message})` });
  }
  return {
    incarnation: parsed.DocumentIncarnation,
    events: parsed.Events.map((e) => ({
      id: e.EventId,
      type: e.EventType,
      status: e.EventStatus,
      resources: e.Resources,
      notBefore: parseNotBefore(e.NotBefore),
      durationSeconds: e.DurationInSeconds,
      source: e.EventSource,
      description: e.Description,
    })),
  };
}

/** NotBefore is an RFC 1123 date ("Mon, 19 Sep 2016 18:29:47 GMT"), or "" once the event started. */
function parseNotBefore(value: string): number | undefined {
  if (value.trim() === '') return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

export interface ScheduledEventsFetcherOptions {
  client: Pick<ImdsClient, 'getJson'>;
  /** The timeout of an ordinary call (imds.requestTimeout). */
  requestTimeoutMs: number;
  /**
   * The timeout of a call that may find the service off: the first one, and every one after a
   * failure (a long outage may have let the service turn itself off). Azure: up to two minutes.
   */
  firstCallTimeoutMs: number;
}

/**
 * One GET per call, through the client (and so through the process-wide rate limiter), with the
 * long timeout until a call has succeeded and again after any failure. No retries: the next
 * events poll is the retry.
 */
export function createScheduledEventsFetcher(o: ScheduledEventsFetcherOptions): (signal: AbortSignal) => Promise<ScheduledEventsDocument> {
  let warm = false;
  return async (signal) => {
    const timeoutMs = warm ? o.requestTimeoutMs : Math.max(o.firstCallTimeoutMs, o.requestTimeoutMs);
    try {
      const body = await o.client.getJson('scheduledevents', SCHEDULED_EVENTS_PATH, { 'api-version': SCHEDULED_EVENTS_API_VERSION }, signal, timeoutMs);
      const document = parseScheduledEvents(body);
      warm = true;
      return document;
    } catch (error) {
      warm = false;
      throw error;
    }
  };
}
