import { jittered } from './backoff.ts';
import { systemClock, type Clock, type Random } from './clock.ts';
import type { Config } from './config/schema.ts';
import type { InstanceDocument } from './imds/document.ts';
import { runPoller } from './imds/poller.ts';
import type { NodeClient } from './kube/nodeClient.ts';
import { runNodeWatch } from './kube/nodeWatch.ts';
import { reconcilePolicy } from './kube/policy.ts';
import { NodeSyncer } from './kube/syncer.ts';
import type { Desired } from './mapping/desired.ts';
import { render } from './mapping/render.ts';
import type { Logger } from './observability/logger.ts';
import type { Metrics } from './observability/metrics.ts';
import { startObservabilityServer } from './observability/server.ts';

export interface AgentDeps {
  config: Config;
  nodeName: string;
  nodeClient: NodeClient;
  fetchInstance: (signal: AbortSignal) => Promise<InstanceDocument>;
  logger: Logger;
  metrics: Metrics;
  clock?: Clock;
  random?: Random;
  /** Stops the agent: polling ends, the watch closes, the write in flight finishes. */
  signal: AbortSignal;
  /** Called once the metrics server listens, with its port (useful with port 0). */
  onListening?: (port: number) => void;
}

/** How long a shutdown waits for a write in flight before giving up on it. */
const SHUTDOWN_GRACE_MS = 5_000;

/**
 * Wires the data flow: poller → render → syncer ← node watch. Resolves after a clean shutdown.
 */
export async function runAgent(deps: AgentDeps): Promise<void> {
  const { config, logger, metrics } = deps;
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? Math.random;
  const work = new AbortController();
  const stop = () => work.abort();
  deps.signal.addEventListener('abort', stop, { once: true });
  const signal = work.signal;
  // A patch in flight at shutdown is not cut off with the rest: it has the grace period to finish.
  const writes = new AbortController();

  metrics.pollPeriod.set(config.poll.period / 1000);
  const syncer = new NodeSyncer({
    client: deps.nodeClient,
    nodeName: deps.nodeName,
    policy: reconcilePolicy(config.labels),
    clock,
    random,
    logger,
    metrics,
    dryRun: config.dryRun,
    events: config.kube.events,
    signal,
    writeSignal: writes.signal,
  });

  let lastPollActivity = clock.now();
  let lastDesired = '';
  const onDocument = (doc: InstanceDocument) => {
    lastPollActivity = clock.now();
    const desired = render(doc, config.labels);
    reportSkipped(metrics, desired);
    const key = JSON.stringify([desired.labels, desired.annotations]);
    if (key !== lastDesired) {
      if (lastDesired) logger.info('IMDS metadata changed');
      lastDesired = key;
      syncer.setDesired(desired);
    }
  };
  const onError = (err: unknown) => {
    lastPollActivity = clock.now();
    // Context, not payloads: the error message quotes at most a short snippet of a body.
    const e = err as Error & { kind?: string; status?: number; code?: string; endpoint?: string; attempts?: number };
    logger.warn(
      { err: { kind: e.kind, endpoint: e.endpoint, status: e.status, code: e.code, attempts: e.attempts, message: e.message } },
      'IMDS poll failed; labels stay as they are',
    );
  };

  // Liveness: the poll loop must report within a few periods plus the retry budget, and a
  // reconcile must not hang. Readiness: the node matched the desired state once.
  const stuckAfter = config.poll.period * (1 + config.poll.jitter) * 3 + config.imds.retryBudget + config.poll.initialDelay;
  const health = () => {
    const now = clock.now();
    if (now - lastPollActivity > stuckAfter) return { ok: false, reason: `no IMDS poll result for ${Math.round((now - lastPollActivity) / 1000)}s` };
    if (syncer.busySince !== undefined && now - syncer.busySince > stuckAfter) return { ok: false, reason: 'reconcile has been running too long' };
    return { ok: true };
  };
  const server = await startObservabilityServer({
    port: config.server.port,
    address: config.server.address,
    registry: metrics.registry,
    health,
    ready: () => syncer.synced,
  });
  deps.onListening?.(server.port);
  logger.info({ node: deps.nodeName, port: server.port, dryRun: config.dryRun }, 'imds-labeler agent started');

  const loops = [
    runNodeWatch({
      client: deps.nodeClient,
      name: deps.nodeName,
      watchTimeoutMs: config.kube.watchTimeout,
      clock,
      random,
      signal,
      logger,
      metrics,
      onNode: (node) => syncer.setObserved(node),
    }),
    runPoller({
      fetch: deps.fetchInstance,
      periodMs: config.poll.period,
      jitter: config.poll.jitter,
      initialDelayMs: config.poll.initialDelay,
      clock,
      random,
      signal,
      onDocument,
      onError,
    }),
    (async () => {
      // The safety net: reconcile against the cached node now and then, whatever happened.
      while (!signal.aborted) {
        await clock.sleep(jittered(config.kube.resyncPeriod, 0.2, random), signal).catch(() => undefined);
        if (!signal.aborted) syncer.resync();
      }
    })(),
  ];

  await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
  logger.info('shutting down');
  const grace = new AbortController();
  await Promise.race([syncer.idle(), clock.sleep(SHUTDOWN_GRACE_MS, grace.signal).catch(() => undefined)]);
  grace.abort();
  writes.abort();
  await Promise.allSettled(loops);
  await server.close();
  deps.signal.removeEventListener('abort', stop);
  logger.info('stopped');
}

function reportSkipped(metrics: Metrics, desired: Desired): void {
  metrics.tagsSkipped.reset();
  const counts = new Map<string, number>();
  for (const s of desired.skipped) counts.set(s.reason, (counts.get(s.reason) ?? 0) + 1);
  for (const [reason, count] of counts) metrics.tagsSkipped.set({ reason }, count);
}
