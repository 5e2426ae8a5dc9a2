import * as z from 'zod';
import type { Clock } from '../../src/clock.ts';

/**
 * Scheduled events: `GET /metadata/scheduledevents` lists what the platform is about to do to the
 * VM; `POST {"StartRequests":[{"EventId":"..."}]}` approves events, which the emulator takes as
 * done. As on Azure, an event never turns "Completed": it leaves the list when done, approved or
 * cancelled, and DocumentIncarnation goes up by one with every change of the list.
 *
 * The service is off until its first call, and turns itself off after 24 hours without one: such a
 * call waits (Azure: up to two minutes) while the service turns on. `warmupMs` sets that wait.
 */

/** The versions of the scheduled events API, newest first; they differ from the instance API's. */
export const SCHEDULED_EVENTS_API_VERSIONS: readonly string[] = Object.freeze(['2020-07-01', '2019-08-01', '2019-01-01', '2017-11-01', '2017-08-01']);

/** How long IMDS keeps the service on without a call. */
export const SCHEDULED_EVENTS_IDLE_OFF_MS = 24 * 60 * 60 * 1000;

const eventSchema = z.looseObject({
  EventId: z.string().min(1),
  EventType: z.string().optional(),
  ResourceType: z.string().optional(),
  Resources: z.array(z.string()).optional(),
  EventStatus: z.string().optional(),
  NotBefore: z.string().optional(),
  Description: z.string().optional(),
  EventSource: z.string().optional(),
  DurationInSeconds: z.number().int().optional(),
});

export type EmulatedEvent = z.output<typeof eventSchema>;

/** The optional `scheduledEvents` section of a fixture: the document GET answers. */
export const scheduledEventsSchema = z.looseObject({
  DocumentIncarnation: z.number().int().nonnegative().default(0),
  Events: z.array(eventSchema).default([]),
});

export type ScheduledEventsDocument = z.output<typeof scheduledEventsSchema>;

export const startRequestsSchema = z.object({
  StartRequests: z.array(z.object({ EventId: z.string().min(1) })).min(1),
});

/** The body of `PUT /_emulator/scheduledevents`: the new list of events. */
export const replaceEventsSchema = z.object({ Events: z.array(eventSchema) });

export class ScheduledEvents {
  #document: ScheduledEventsDocument;
  #lastCallAt: number | undefined;

  constructor(initial?: ScheduledEventsDocument) {
    this.#document = structuredClone(initial ?? { DocumentIncarnation: 0, Events: [] });
  }

  document(): ScheduledEventsDocument {
    return structuredClone(this.#document);
  }

  /**
   * Records a call to the service; resolves when the service would answer: at once while it is on,
   * after `warmupMs` on the first call and on the first call after a day without one.
   */
  async called(clock: Clock, warmupMs: number, signal?: AbortSignal): Promise<void> {
    const now = clock.now();
    const off = this.#lastCallAt === undefined || now - this.#lastCallAt >= SCHEDULED_EVENTS_IDLE_OFF_MS;
    this.#lastCallAt = now;
    if (off && warmupMs > 0) await clock.sleep(warmupMs, signal);
  }

  /** Removes the events with these ids (approved: the emulator takes them as done). Returns the ids removed. */
  approve(eventIds: readonly string[]): string[] {
    return this.#remove(eventIds);
  }

  /** The platform cancelled or finished events: they vanish. Returns the ids removed. */
  cancel(eventIds: readonly string[]): string[] {
    return this.#remove(eventIds);
  }

  /** The platform started an event; false when there is no such event. */
  start(eventId: string): boolean {
    const event = this.#document.Events.find((e) => e.EventId === eventId);
    if (!event) return false;
    if (event.EventStatus !== 'Started') {
      event.EventStatus = 'Started';
      this.#document.DocumentIncarnation++;
    }
    return true;
  }

  /** Replaces the list, as the platform publishing new events; the incarnation moves only when the list changed. */
  replace(events: readonly EmulatedEvent[]): void {
    if (JSON.stringify(events) === JSON.stringify(this.#document.Events)) return;
    this.#document.Events = structuredClone([...events]);
    this.#document.DocumentIncarnation++;
  }

  #remove(eventIds: readonly string[]): string[] {
    const wanted = new Set(eventIds);
    const removed = this.#document.Events.filter((e) => wanted.has(e.EventId)).map((e) => e.EventId);
    if (removed.length > 0) {
      this.#document.Events = this.#document.Events.filter((e) => !wanted.has(e.EventId));
      this.#document.DocumentIncarnation++;
    }
    return removed;
  }
}
