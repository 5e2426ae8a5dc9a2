import { KUBE_REREAD_BACKOFF, KUBE_WRITE_BACKOFF, backoffDelay, type BackoffPolicy } from '../backoff.ts';
import type { Clock, Random } from '../clock.ts';
import type { Desired } from '../mapping/desired.ts';
import type { Maintenance } from '../mapping/maintenance.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { KubeError } from './errors.ts';
import { createEventLimiter } from './eventLimiter.ts';
import type { NodeClient } from './nodeClient.ts';
import { readOwnership } from './ownership.ts';
import { planNode, type NodePlan, type TaintChanges } from './nodePlan.ts';
import { applyPatch, describeChanges, type ReconcilePolicy, type ReconcileResult } from './reconcile.ts';
import type { NodeEvent, NodeMeta } from './types.ts';

export interface SyncerOptions {
  client: NodeClient;
  nodeName: string;
  policy: ReconcilePolicy;
  clock: Clock;
  random: Random;
  logger: Logger;
  metrics?: Metrics;
  dryRun: boolean;
  events: boolean;
  signal: AbortSignal;
  /**
   * Aborts a write in flight; defaults to `signal`. The agent passes one that outlives `signal`
   * by the shutdown grace, so a patch already sent when shutdown starts is allowed to finish.
   */
  writeSignal?: AbortSignal;
  backoff?: BackoffPolicy;
}

type PacingCause = 'imds' | 'other-writer';

export type SyncOutcome = 'unchanged' | 'patched' | 'dry_run' | 'waiting' | 'failed';

/** Attempts at one change before waiting for the next trigger (a node event or the resync). */
const MAX_ATTEMPTS = 8;

/**
 * Patches allowed back to back, then one per WRITE_INTERVAL_MS. A node converges in one or two
 * patches, so this never bites in normal operation; it stops a hot loop when another writer keeps
 * setting other values on the agent's keys (a second agent with another config during a rolling
 * update with surge, a controller that disagrees), where each patch's watch event would otherwise
 * trigger the other side's next patch at once, and it bounds the writes of an IMDS whose answer
 * changes on every poll. The warning says which of the two it is.
 */
const WRITE_BURST = 5;
const WRITE_INTERVAL_MS = 2_000;

/** Announcements (Events) kept while the node is not known yet; older ones are dropped. */
const MAX_PENDING_ANNOUNCEMENTS = 16;

/** The API server's cap on the total size of an object's annotations (keys and values). */
export const ANNOTATIONS_MAX_BYTES = 256 * 1024;

/**
 * The only writer. It holds the latest desired state (from IMDS: the instance document's labels
 * and annotations, and the scheduled events' condition, annotation and taint) and the latest
 * observed node (from the watch), and runs planNode whenever either changes or a resync asks.
 * Runs never overlap; a trigger during a run schedules exactly one more. Until the instance
 * document and the node are known it does nothing, so an IMDS outage at start-up never strips
 * labels; until the scheduled events are known their part of the node stays as it is.
 */
export class NodeSyncer {
  private desired: Desired | undefined;
  private maintenance: Maintenance | undefined;
  /** A removal of the agent's condition was refused (no nodes/status rights once the feature is off): not tried again. */
  private conditionRemovalRefused = false;
  /** Events waiting for the node to be known (their involvedObject needs its uid). */
  private readonly announcements: NodeEvent[] = [];
  private observed: NodeMeta | null | undefined;
  private running: Promise<void> | undefined;
  private dirty = false;
  private readonly o: SyncerOptions;
  private readonly eventLimiter;
  /**
   * Scheduled-event announcements have a budget of their own: a maintenance notice must not be
   * dropped because label changes used up the Events of the last minutes.
   */
  private readonly announcementLimiter;
  /** Patch budget (see WRITE_BURST): whole patches available, and when it was last topped up. */
  private writeCredit = WRITE_BURST;
  private writeCreditAt: number | undefined;
  /** Why patches are being paced now, once the warning is out; undefined when they are not. */
  private pacing: PacingCause | undefined;
  /** The desired state of the last patch sent, to tell IMDS churn from another writer's. */
  private patchedFor: Desired | undefined;
  /**
   * Why the current desired state is written without its annotations (the tags annotation), when
   * it is: the node's annotations would not fit with it. Cleared by the next desired state.
   */
  private annotationsDropped: string | undefined;
  /** The last keys reported as left alone, so each change is logged once. */
  private reported = '';
  /** Events being recorded (fire-and-forget for the run, awaited by idle()). */
  private readonly events = new Set<Promise<void>>();
  /** Set once the node has matched the desired state at least once. */
  synced = false;
  /** Why the last write was refused with a status retrying cannot change; cleared by a good pass. */
  refusal: string | undefined;
  lastOutcome: SyncOutcome = 'waiting';
  /** When the current run started, for the liveness check; undefined when idle. */
  busySince: number | undefined;

  constructor(options: SyncerOptions) {
    this.o = options;
    this.eventLimiter = createEventLimiter(options.clock);
    this.announcementLimiter = createEventLimiter(options.clock, 10);
  }

  setDesired(desired: Desired): void {
    this.desired = desired;
    this.annotationsDropped = undefined;
    this.trigger();
  }

  /** The scheduled events' share of the desired state (src/mapping/maintenance.ts). */
  setMaintenance(maintenance: Maintenance): void {
    this.maintenance = maintenance;
    this.trigger();
  }

  setObserved(node: NodeMeta | null): void {
    // A watch event can trail our own patch response; never step back to an older version.
    if (node && this.observed && isOlder(node.resourceVersion, this.observed.resourceVersion) && node.uid === this.observed.uid) return;
    this.observed = node;
    if (node) for (const event of this.announcements.splice(0)) this.sendEvent(node, event, this.announcementLimiter);
    this.trigger();
  }

  /**
   * Records an Event about the node that is no write of the syncer's (a scheduled event that
   * appeared, started or vanished); kept until the node is known.
   */
  announce(event: NodeEvent): void {
    if (this.observed) return this.sendEvent(this.observed, event, this.announcementLimiter);
    this.announcements.push(event);
    if (this.announcements.length > MAX_PENDING_ANNOUNCEMENTS) this.announcements.shift();
  }

  resync(): void {
    this.trigger();
  }

  /** Resolves when no run is in flight (used on shutdown, bounded by the caller). */
  async idle(): Promise<void> {
    // The Event a finished patch emits is part of the run: shutdown waits for it too (bounded by
    // the caller's grace), so it never races the process or the API server going away.
    while (this.running || this.events.size) await Promise.all([this.running, ...this.events]);
  }

  private trigger(): void {
    this.dirty = true;
    if (this.running || this.o.signal.aborted) return;
    this.running = (async () => {
      try {
        while (this.dirty && !this.o.signal.aborted) {
          this.dirty = false;
          this.busySince = this.o.clock.now();
          this.lastOutcome = await this.syncOnce();
        }
      } finally {
        this.busySince = undefined;
        this.running = undefined;
      }
    })();
  }

  private async syncOnce(): Promise<SyncOutcome> {
    const { metrics, logger } = this.o;
    for (let attempt = 0; attempt < MAX_ATTEMPTS && !this.o.signal.aborted; attempt++) {
      const wanted = this.desired;
      const desired = wanted && this.annotationsDropped !== undefined ? { ...wanted, annotations: {} } : wanted;
      const node = this.observed;
      if (!desired || node === undefined) return 'waiting';
      if (node === null) {
        logger.info({ node: this.o.nodeName }, 'node does not exist (yet); waiting for it');
        return 'waiting';
      }
      const plan = this.plan(desired, node);
      const { result } = plan;
      // What the node holds now (its ownership record), not what it will hold once the patch
      // lands: a node whose patches fail must show up as having no labels of ours.
      const current = readOwnership(node.annotations, this.o.policy.ownershipKeys);
      metrics?.managedLabels.set(current.labels.size);
      metrics?.managedAnnotations.set(current.annotations.size);
      this.report(result);
      if (!plan.patch && !plan.statusPatch) {
        this.pacing = undefined;
        this.done('unchanged');
        return 'unchanged';
      }
      if (this.o.dryRun) {
        // Keys at info; the patch, which carries values (tag values among them), at debug only.
        logger.info({ dryRun: true, changes: changeSummary(plan) }, `dry run: would ${describePlan(plan) || 'update ownership record'}`);
        logger.debug({ dryRun: true, patch: plan.patch, statusPatch: plan.statusPatch }, 'dry run: the patch that would be sent');
        this.done('dry_run');
        return 'dry_run';
      }
      if (plan.patch && this.annotationsDropped === undefined && Object.keys(desired.annotations).length > 0 && annotationBytes(applyPatch(node, plan.patch)) > ANNOTATIONS_MAX_BYTES) {
        this.dropAnnotations(node, `the node's annotations would pass the API server's limit of ${ANNOTATIONS_MAX_BYTES} bytes`);
        attempt--; // nothing was sent: recompute without the annotations
        continue;
      }
      const wait = this.writeWait();
      if (wait > 0) {
        // Whose churn it is: a desired state that moved since the last patch comes from IMDS
        // (tags or fields changing poll after poll); the same desired state patched again means
        // something on the node keeps undoing it.
        const cause: PacingCause = this.patchedFor !== undefined && wanted !== this.patchedFor ? 'imds' : 'other-writer';
        if (this.pacing !== cause) {
          logger.warn(
            { node: node.name, cause, changes: changeSummary(plan), waitMs: wait },
            cause === 'imds'
              ? 'IMDS metadata keeps changing between polls (tags or fields churning); pacing node patches'
              : 'node patches keep being undone by another writer setting other values on these keys; pacing them',
          );
        }
        this.pacing = cause;
        await this.o.clock.sleep(wait, this.o.signal).catch(() => undefined);
        attempt--; // waiting for the budget is not a failed attempt; recompute from the latest state
        continue;
      }
      const removingCondition = plan.statusPatch?.status.conditions.some((c) => '$patch' in c) === true;
      try {
        let updated = node;
        if (plan.patch) {
          updated = await this.o.client.patch(node.name, plan.patch, this.o.writeSignal ?? this.o.signal);
          this.afterWrite(updated, wanted);
          metrics?.managedLabels.set(result.ownedLabels.length);
          metrics?.managedAnnotations.set(result.ownedAnnotations.length);
          countChanges(metrics, result);
          logger.info({ node: node.name, changes: changeSummary(plan) }, 'applied label changes');
          this.emitEvent(updated, plan);
        }
        if (plan.statusPatch) {
          try {
            updated = await this.o.client.patchStatus(node.name, plan.statusPatch, this.o.writeSignal ?? this.o.signal);
          } catch (err) {
            if (!(removingCondition && err instanceof KubeError && !err.retryable && err.kind !== 'not-found')) throw err;
            // The feature is off and its rights are gone with it (RBAC nodes/status): leave the
            // condition, say how to remove it, and never count it against readiness.
            this.conditionRemovalRefused = true;
            metrics?.nodePatches.inc({ result: 'error' });
            logger.warn(
              { node: node.name, err: err.logFields(), condition: this.o.policy.nodeKeys.maintenanceCondition },
              'could not remove the maintenance condition (scheduled events are off, and with them the nodes/status permission); it stays until removed by hand',
            );
            this.done('patched');
            return 'patched';
          }
          this.afterWrite(updated, wanted);
          logger.info({ node: node.name, condition: plan.statusPatch.status.conditions[0] }, 'applied node condition');
        }
        this.done('patched');
        return 'patched';
      } catch (err) {
        const error = err instanceof KubeError ? err : new KubeError('other', String(err));
        if (this.o.signal.aborted) break;
        metrics?.nodePatches.inc({ result: error.kind === 'conflict' ? 'conflict' : 'error' });
        if (error.kind === 'not-found') {
          this.observed = null;
          return 'waiting';
        }
        if (plan.patch && isAnnotationsTooLarge(error) && this.annotationsDropped === undefined && Object.keys(desired.annotations).length > 0) {
          // The annotations' size limit, counted the server's way: the labels matter more than the
          // tags annotation, so they go without it rather than not at all.
          this.dropAnnotations(node, error.message);
          continue;
        }
        if (!error.retryable) {
          this.refusal = `the last node patch was refused (${error.status === undefined ? '' : `HTTP ${error.status}, `}${error.kind}); waiting for the next change or resync`;
          logger.error(
            { node: node.name, err: error.logFields(), attempt: attempt + 1 },
            'node patch refused; waiting for the next change or resync',
          );
          break;
        }
        // A conflict means our view is stale: read the node again and recompute at once.
        if (error.kind === 'conflict') await this.refresh();
        else {
          const delay = backoffDelay(attempt, this.o.backoff ?? KUBE_WRITE_BACKOFF, this.o.random, error.retryAfterMs);
          logger.warn(
            { node: node.name, err: error.logFields(), attempt: attempt + 1, retryInMs: Math.round(delay) },
            'node patch failed; retrying',
          );
          await this.o.clock.sleep(delay, this.o.signal).catch(() => undefined);
        }
      }
    }
    metrics?.reconciles.inc({ result: 'failed' });
    return 'failed';
  }

  /** planNode with the syncer's state: a condition whose removal was refused is left alone. */
  private plan(desired: Desired, node: NodeMeta): NodePlan {
    const maintenance = this.maintenance && this.conditionRemovalRefused && this.maintenance.condition === null ? { ...this.maintenance, condition: undefined } : this.maintenance;
    if (this.maintenance?.condition) this.conditionRemovalRefused = false;
    return planNode(desired, maintenance, node, this.o.policy, new Date(this.o.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z'));
  }

  /** Book-keeping of a write the API server accepted. */
  private afterWrite(updated: NodeMeta, wanted: Desired | undefined): void {
    this.writeCredit -= 1;
    this.patchedFor = wanted;
    this.o.metrics?.nodePatches.inc({ result: 'success' });
    this.observed = updated;
  }

  /** Logs the keys left alone once per change of the set; the conflict count is a gauge. */
  private report(result: ReconcileResult): void {
    this.o.metrics?.labelConflicts.set(result.conflicts.length);
    const { refused, conflicts, held } = result;
    const signature = JSON.stringify([refused, conflicts, held]);
    if (signature === this.reported) return;
    this.reported = signature;
    const { logger } = this.o;
    if (refused.length) logger.warn({ keys: refused }, 'left keys alone: outside the agent\'s prefixes');
    if (conflicts.length) logger.warn({ keys: conflicts }, 'left keys alone: another writer set them first, and they are not in the ownership record');
    if (held.length) logger.warn({ keys: held }, 'kept labels at their last good value: IMDS sends a value that is not a valid label value');
  }

  /** Writes the labels without the annotations from now on, and says so: log, metric, Event. */
  private dropAnnotations(node: NodeMeta, why: string): void {
    this.annotationsDropped = why;
    this.o.metrics?.tagsAnnotationDropped.inc();
    this.o.logger.warn({ node: node.name, reason: why }, 'writing the labels without the tags annotation: it does not fit on the node');
    this.sendEvent(node, { reason: 'TagsAnnotationDropped', type: 'Warning', message: `labels written without the tags annotation: ${why}` });
  }

  /** Milliseconds until the patch budget allows one more patch (0: now). */
  private writeWait(): number {
    const now = this.o.clock.now();
    const since = this.writeCreditAt === undefined ? 0 : Math.max(0, now - this.writeCreditAt);
    this.writeCredit = Math.min(WRITE_BURST, this.writeCredit + since / WRITE_INTERVAL_MS);
    this.writeCreditAt = now;
    return this.writeCredit >= 1 ? 0 : Math.ceil((1 - this.writeCredit) * WRITE_INTERVAL_MS);
  }

  private async refresh(): Promise<void> {
    try {
      const list = await this.o.client.list({ name: this.o.nodeName, signal: this.o.signal });
      this.observed = list.nodes.find((n) => n.name === this.o.nodeName) ?? null;
    } catch (err) {
      this.o.logger.warn({ err: { message: (err as Error).message } }, 'could not re-read the node after a conflict');
      await this.o.clock.sleep(backoffDelay(1, KUBE_REREAD_BACKOFF, this.o.random), this.o.signal).catch(() => undefined);
    }
  }

  /**
   * Whether the agent can do its job now: the node matched the desired state once, and the last
   * write was not refused (403, 422...). The reason names the status, never the API's message,
   * which can quote label values.
   */
  readiness(): { ok: boolean; reason?: string } {
    if (!this.synced) return { ok: false, reason: 'not ready: the node has not matched IMDS yet' };
    if (this.refusal) return { ok: false, reason: `not ready: ${this.refusal}` };
    return { ok: true };
  }

  private done(result: 'unchanged' | 'patched' | 'dry_run'): void {
    this.synced = true;
    this.refusal = undefined;
    this.o.metrics?.reconciles.inc({ result });
    this.o.metrics?.lastReconcile.set(this.o.clock.now() / 1000);
  }

  private emitEvent(node: NodeMeta, plan: NodePlan): void {
    const message = describePlan(plan, false);
    if (message) this.sendEvent(node, { reason: 'LabelsUpdated', message, type: 'Normal' });
  }

  private sendEvent(node: NodeMeta, event: NodeEvent, limiter = this.eventLimiter): void {
    if (!this.o.events || !limiter.tryTake()) return;
    const sent = this.o.client
      .event(node, { ...event, message: truncate(event.message, 1024) })
      .catch((err: unknown) => {
        this.o.logger.warn({ err: { message: (err as Error).message } }, `could not record the ${event.reason} event`);
      })
      .finally(() => this.events.delete(sent));
    this.events.add(sent);
  }
}

function changeSummary(plan: NodePlan) {
  const { result, taints, statusPatch } = plan;
  return {
    labels: result.labels,
    annotations: result.annotations,
    ...(hasTaintChanges(taints) ? { taints } : {}),
    ...(statusPatch ? { condition: statusPatch.status.conditions.map((c) => ('$patch' in c ? `${c.type} removed` : `${c.type}=${c.status} (${c.reason})`)) } : {}),
  };
}

const hasTaintChanges = (t: TaintChanges) => t.added.length > 0 || t.removed.length > 0;

/** The plan for people: the label and annotation changes, then the taints, then (with `condition`) the condition. */
function describePlan(plan: NodePlan, condition = true): string {
  const parts = [describeChanges(plan.result)];
  if (plan.taints.added.length) parts.push(`added taints ${plan.taints.added.join(', ')}`);
  if (plan.taints.removed.length) parts.push(`removed taints ${plan.taints.removed.join(', ')}`);
  if (condition && plan.statusPatch) parts.push(`set condition ${changeSummary(plan).condition!.join(', ')}`);
  return parts.filter(Boolean).join('; ');
}

function countChanges(metrics: Metrics | undefined, r: ReconcileResult): void {
  if (!metrics) return;
  for (const c of [r.labels, r.annotations]) {
    if (c.added.length) metrics.labelChanges.inc({ operation: 'added' }, c.added.length);
    if (c.changed.length) metrics.labelChanges.inc({ operation: 'changed' }, c.changed.length);
    if (c.removed.length) metrics.labelChanges.inc({ operation: 'removed' }, c.removed.length);
  }
}

/** The API server's answer when an object's annotations pass their total size limit. */
const isAnnotationsTooLarge = (error: KubeError) => error.kind === 'invalid' && /metadata\.annotations: Too long/i.test(error.message);

/** The size the API server counts against its limit: every key and value, in bytes. */
function annotationBytes(node: NodeMeta): number {
  let total = 0;
  for (const [key, value] of Object.entries(node.annotations)) total += Buffer.byteLength(key) + Buffer.byteLength(value);
  return total;
}

function isOlder(a: string, b: string): boolean {
  return /^\d+$/.test(a) && /^\d+$/.test(b) && BigInt(a) < BigInt(b);
}

const truncate = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
