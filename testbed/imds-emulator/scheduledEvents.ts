import * as z from 'zod';

/**
 * Scheduled events: `GET /metadata/scheduledevents` lists what the platform is about to do to the
 * VM; `POST {"StartRequests":[{"EventId":"..."}]}` approves events, which the emulator takes as
 * done: they leave the list and DocumentIncarnation goes up by one.
 */

/** The versions of the scheduled events API, newest first; they differ from the instance API's. */
export const SCHEDULED_EVENTS_API_VERSIONS: readonly string[] = Object.freeze(['2020-07-01', '2019-08-01', '2019-01-01', '2017-11-01', '2017-08-01']);

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

/** The optional `scheduledEvents` section of a fixture: the document GET answers. */
export const scheduledEventsSchema = z.looseObject({
  DocumentIncarnation: z.number().int().nonnegative().default(0),
  Events: z.array(eventSchema).default([]),
});

export type ScheduledEventsDocument = z.output<typeof scheduledEventsSchema>;

export const startRequestsSchema = z.object({
  StartRequests: z.array(z.object({ EventId: z.string().min(1) })).min(1),
});

export class ScheduledEvents {
  #document: ScheduledEventsDocument;

  constructor(initial?: ScheduledEventsDocument) {
    this.#document = structuredClone(initial ?? { DocumentIncarnation: 0, Events: [] });
  }

  document(): ScheduledEventsDocument {
    return structuredClone(this.#document);
  }

  /** Removes the events with these ids; bumps the incarnation when any was there. Returns the ids removed. */
  approve(eventIds: readonly string[]): string[] {
    const wanted = new Set(eventIds);
    const removed = this.#document.Events.filter((e) => wanted.has(e.EventId)).map((e) => e.EventId);
    if (removed.length > 0) {
      this.#document.Events = this.#document.Events.filter((e) => !wanted.has(e.EventId));
      this.#document.DocumentIncarnation++;
    }
    return removed;
  }
}
