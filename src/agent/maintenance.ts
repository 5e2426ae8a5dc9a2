import { AgentError } from '../agentError.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { EVENT_TYPES, type ScheduledEvent, type ScheduledEventsDocument } from '../imds/scheduledEvents.ts';
import { nodeKeys } from '../keys/keys.ts';
import { UNKNOWN_AFTER_FAILED_POLLS, announcementOf, diffEvents, eventsForVm, maintenanceOf, unknownMaintenance, type Maintenance } from '../mapping/maintenance.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { NodeEvent } from '../kube/types.ts';

/** What the tracker drives: the syncer's scheduled-events input and its Event recorder. */
export interface MaintenanceSink {
  setMaintenance(maintenance: Maintenance): void;
  announce(event: NodeEvent): void;
}

export interface MaintenanceTracker {
  /** The VM's name from the latest instance document (what `Resources` lists). */
  onVmName(name: string | undefined): void;
  onDocument(document: ScheduledEventsDocument): void;
  onError(error: unknown): void;
}

/**
 * The glue between the scheduled-events poller and the syncer: it keeps the last document and the
 * VM's name, and hands the syncer what the node should show whenever either really changes (a new
 * DocumentIncarnation, another name, the end of an outage). Each event that appears, starts or
 * vanishes is announced as a Kubernetes Event; the first document is compared with nothing, so
 * events already pending when the agent starts are announced too. After
 * UNKNOWN_AFTER_FAILED_POLLS failures in a row the condition turns Unknown; the annotation and
 * the taint stay as last known.
 */
export function createMaintenanceTracker(config: Config, sink: MaintenanceSink, deps: { logger: Logger; metrics?: Metrics | undefined; clock: Clock }): MaintenanceTracker {
  const { logger, metrics, clock } = deps;
  const events = config.scheduledEvents;
  const keys = nodeKeys(config.labels.prefix);
  let vmName: string | undefined;
  let document: ScheduledEventsDocument | undefined;
  /** What the syncer was last given: for this name and this incarnation. */
  let shown: { vmName: string; incarnation: number } | undefined;
  let mine: ScheduledEvent[] = [];
  let failures = 0;
  let warnedNoName = false;

  metrics?.scheduledEventsPollPeriod.set(events.period / 1000);
  for (const type of EVENT_TYPES) metrics?.scheduledEventsPending.set({ event_type: type }, 0);

  const show = () => {
    if (!document) return;
    if (vmName === undefined) {
      if (!warnedNoName) logger.warn('the instance document has no compute.name: scheduled events cannot be matched to this VM, so the node shows none of them');
      warnedNoName = true;
      return;
    }
    untilNotBefore(mine);
    if (shown && shown.vmName === vmName && shown.incarnation === document.incarnation) return;
    const now = eventsForVm(document, vmName);
    const changes = diffEvents(mine, now);
    mine = now;
    shown = { vmName, incarnation: document.incarnation };
    for (const change of changes) {
      logger.info({ change: change.change, eventId: change.event.id, eventType: change.event.type, status: change.event.status }, `scheduled event ${change.change}`);
      sink.announce(announcementOf(change, events.disruptive));
    }
    sink.setMaintenance(maintenanceOf(now, { vmName, disruptive: events.disruptive, taint: events.taint, keys }));
    if (metrics) {
      for (const type of EVENT_TYPES) metrics.scheduledEventsPending.set({ event_type: type }, 0);
      const counts = new Map<string, number>();
      for (const e of now) counts.set(e.type, (counts.get(e.type) ?? 0) + 1);
      for (const [type, count] of counts) metrics.scheduledEventsPending.set({ event_type: type }, count);
    }
    untilNotBefore(now);
  };

  /** Seconds to the next NotBefore of each type, from now; no series for a type with none pending. */
  const untilNotBefore = (list: readonly ScheduledEvent[]) => {
    if (!metrics) return;
    metrics.scheduledEventSecondsUntil.reset();
    const next = new Map<string, number>();
    for (const e of list) {
      const seconds = e.status === 'Started' || e.notBefore === undefined ? 0 : Math.max(0, (e.notBefore - clock.now()) / 1000);
      next.set(e.type, Math.min(next.get(e.type) ?? Number.POSITIVE_INFINITY, seconds));
    }
    for (const [type, seconds] of next) metrics.scheduledEventSecondsUntil.set({ event_type: type }, seconds);
  };

  return {
    onVmName(name) {
      if (name === vmName) return;
      vmName = name;
      show();
    },
    onDocument(next) {
      metrics?.scheduledEventsLastSuccess.set(clock.now() / 1000);
      metrics?.scheduledEventsIncarnation.set(next.incarnation);
      if (failures >= UNKNOWN_AFTER_FAILED_POLLS) {
        logger.info({ failedPolls: failures }, 'IMDS scheduled events answer again');
        shown = undefined;
      }
      failures = 0;
      document = next;
      show();
    },
    onError(error) {
      failures++;
      const err = error instanceof AgentError ? error.logFields() : { message: String(error) };
      if (failures === 1) logger.warn({ err }, 'scheduled events poll failed; the node keeps what it shows');
      else logger.debug({ err, failedPolls: failures }, 'scheduled events poll failed again');
      if (failures === UNKNOWN_AFTER_FAILED_POLLS) {
        logger.warn({ failedPolls: failures }, 'scheduled events failed %d polls in a row: the maintenance condition is now Unknown', failures);
        sink.setMaintenance(unknownMaintenance({ keys }));
      }
    },
  };
}
