import { AgentError } from '../agentError.ts';
import { jittered } from '../backoff.ts';
import type { Clock, Random } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { InstanceDocument } from '../imds/document.ts';
import { runPoller } from '../imds/poller.ts';
import type { ScheduledEventsDocument } from '../imds/scheduledEvents.ts';
import type { NodeClient } from '../kube/nodeClient.ts';
import { runNodeWatch } from '../kube/nodeWatch.ts';
import { reconcilePolicy } from '../kube/policy.ts';
import { NodeSyncer } from '../kube/syncer.ts';
import type { Desired } from '../mapping/desired.ts';
import { MAINTENANCE_OFF } from '../mapping/maintenance.ts';
import { render } from '../mapping/render.ts';
import type { Logger } from '../observability/logger.ts';
import { createProblemReporter } from '../observability/mappingProblems.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { HealthStatus } from '../observability/server.ts';
import { createMaintenanceTracker } from './maintenance.ts';

/**
 * The agent's wiring, without a server or a process around it: poller → render → syncer ← node
 * watch, plus the periodic resync, and (opt-in) the scheduled-events poller → maintenance
 * tracker → the same syncer, so the node still has one writer. `runAgent` (src/agent/run.ts) runs it in the product, the demo
 * and the reliability harness run it against the stand-ins, and the fleet benchmark runs
 * thousands of it in one process: all of them run exactly this code.
 *
 * What it needs from outside is narrow and injected: the node's name, a NodeClient, the IMDS
 * instance fetch (retries included), a logger, a clock and a random source. Metrics are optional
 * so a simulated fleet need not carry a registry per agent; they observe, they never decide.
 */

export interface AgentIO {
  nodeName: string;
  nodeClient: NodeClient;
  /** One call per poll: the instance document, retried within the budget, or an error. */
  fetchInstance: (signal: AbortSignal) => Promise<InstanceDocument>;
  /**
   * One call per events poll: the scheduled events document, through the same rate limiter as
   * the instance fetch. Needed only with config.scheduledEvents.enabled.
   */
  fetchScheduledEvents?: (signal: AbortSignal) => Promise<ScheduledEventsDocument>;
  logger: Logger;
  metrics?: Metrics;
  clock: Clock;
  random: Random;
}

export interface AgentLoops {
  /** Liveness: the poll loop reports within a few periods plus the retry budget, and a reconcile does not hang. */
  health(): HealthStatus;
  /**
   * Readiness: the node matched the desired state once and the last write was not refused (a 403
   * or 422 that retrying cannot fix); the reason says which.
   */
  ready(): HealthStatus;
  /**
   * Stops every loop: polling ends and the watch closes at once; a write in flight has
   * SHUTDOWN_GRACE_MS to finish. Resolves when every loop has ended.
   */
  stop(): Promise<void>;
}

/** How long a shutdown waits for a write in flight before giving up on it. */
export const SHUTDOWN_GRACE_MS = 5_000;

/** The widest start spread (see startSpreadMs). */
export const MAX_START_SPREAD_MS = 2_000;

/**
 * How far apart agents started in the same instant (a node pool created at once, a DaemonSet
 * rolled out with maxUnavailable 100 %) make their first Kubernetes API requests: each waits a
 * uniform random time in [0, spread) before its first list, so the fleet's lists, watches and
 * first patches arrive spread over the window instead of in one instant. The IMDS fetch is not
 * delayed (each VM has its own IMDS), and the spread is kept small because a node counts for a
 * DoNotSchedule spread constraint only once it is labelled: labels land at most 2 s later than
 * without it. It is the poll jitter scaled down (period × jitter, capped at 2 s: 2 s with the
 * defaults), so a config without jitter (tests, the demo) has none.
 */
export function startSpreadMs(poll: Config['poll']): number {
  return Math.min(MAX_START_SPREAD_MS, poll.period * poll.jitter);
}

export function startAgentLoops(config: Config, io: AgentIO): AgentLoops {
  const { logger, metrics, clock, random } = io;
  const work = new AbortController();
  const signal = work.signal;
  // A patch in flight at shutdown is not cut off with the rest: it has the grace period to finish.
  const writes = new AbortController();

  metrics?.pollPeriod.set(config.poll.period / 1000);
  const syncer = new NodeSyncer({
    client: io.nodeClient,
    nodeName: io.nodeName,
    policy: reconcilePolicy(config.labels, config.kube.identity),
    clock,
    random,
    logger,
    metrics,
    dryRun: config.dryRun,
    events: config.kube.events,
    signal,
    writeSignal: writes.signal,
  });

  const fetchEvents = config.scheduledEvents.enabled ? io.fetchScheduledEvents : undefined;
  if (config.scheduledEvents.enabled && !fetchEvents) throw new TypeError('scheduledEvents.enabled needs AgentIO.fetchScheduledEvents');
  const maintenance = fetchEvents ? createMaintenanceTracker(config, syncer, { logger, metrics, clock }) : undefined;
  // Off: what an earlier config put on the node (condition, annotation, taint) is taken back.
  if (!maintenance) syncer.setMaintenance(MAINTENANCE_OFF);

  let lastPollActivity = clock.now();
  let lastDesired = '';
  const reportProblems = createProblemReporter(logger, metrics);
  const onDocument = (doc: InstanceDocument) => {
    lastPollActivity = clock.now();
    maintenance?.onVmName(doc.compute.name);
    const desired = render(doc, config.labels);
    if (metrics) reportSkipped(metrics, desired);
    reportProblems(desired);
    const key = JSON.stringify([desired.labels, desired.annotations, desired.unknownLabels]);
    if (key !== lastDesired) {
      if (lastDesired) logger.info('IMDS metadata changed');
      lastDesired = key;
      syncer.setDesired(desired);
    }
  };
  const onError = (err: unknown) => {
    lastPollActivity = clock.now();
    // Context, not payloads: the error message quotes at most a short snippet of a body.
    logger.warn({ err: err instanceof AgentError ? err.logFields() : { message: String(err) } }, 'IMDS poll failed; labels stay as they are');
  };

  const stuckAfter = config.poll.period * (1 + config.poll.jitter) * 3 + config.imds.retryBudget + config.poll.initialDelay;
  // Credentials that cannot be had (an exec plugin failing or hanging) make the agent neither
  // healthy nor ready: it cannot do its job, and a restart may help (a fresh plugin, a new token).
  const credentials = (): HealthStatus | undefined => {
    const kube = io.nodeClient.health?.();
    return kube && !kube.ok ? { ok: false, reason: kube.reason ?? 'no Kubernetes credentials' } : undefined;
  };
  const health = (): HealthStatus => {
    const now = clock.now();
    const kube = credentials();
    if (kube) return kube;
    if (now - lastPollActivity > stuckAfter) return { ok: false, reason: `no IMDS poll result for ${Math.round((now - lastPollActivity) / 1000)}s` };
    if (syncer.busySince !== undefined && now - syncer.busySince > stuckAfter) return { ok: false, reason: 'reconcile has been running too long' };
    return { ok: true };
  };

  const pause = (ms: number) => clock.sleep(ms, signal).catch(() => undefined);
  const spread = startSpreadMs(config.poll);
  const loops = [
    (async () => {
      if (spread > 0) await pause(random() * spread);
      if (signal.aborted) return;
      await runNodeWatch({
        client: io.nodeClient,
        name: io.nodeName,
        watchTimeoutMs: config.kube.watchTimeout,
        clock,
        random,
        signal,
        logger,
        metrics,
        onNode: (node) => syncer.setObserved(node),
      });
    })(),
    runPoller({
      fetch: io.fetchInstance,
      periodMs: config.poll.period,
      jitter: config.poll.jitter,
      initialDelayMs: config.poll.initialDelay,
      clock,
      random,
      signal,
      onDocument,
      onError,
    }),
    ...(fetchEvents && maintenance
      ? [
          runPoller({
            fetch: fetchEvents,
            periodMs: config.scheduledEvents.period,
            jitter: config.poll.jitter,
            clock,
            random,
            signal,
            onDocument: (doc) => maintenance.onDocument(doc),
            onError: (err) => maintenance.onError(err),
          }),
        ]
      : []),
    (async () => {
      // The safety net: reconcile against the cached node now and then, whatever happened.
      while (!signal.aborted) {
        await pause(jittered(config.kube.resyncPeriod, 0.2, random));
        if (!signal.aborted) syncer.resync();
      }
    })(),
  ];

  let stopped: Promise<void> | undefined;
  return {
    health,
    ready: () => credentials() ?? syncer.readiness(),
    stop() {
      stopped ??= (async () => {
        work.abort();
        const grace = new AbortController();
        await Promise.race([syncer.idle(), clock.sleep(SHUTDOWN_GRACE_MS, grace.signal).catch(() => undefined)]);
        grace.abort();
        writes.abort();
        await Promise.allSettled(loops);
      })();
      return stopped;
    },
  };
}

function reportSkipped(metrics: Metrics, desired: Desired): void {
  metrics.tagsSkipped.reset();
  const counts = new Map<string, number>();
  for (const s of desired.skipped) counts.set(s.reason, (counts.get(s.reason) ?? 0) + 1);
  for (const [reason, count] of counts) metrics.tagsSkipped.set({ reason }, count);
}
