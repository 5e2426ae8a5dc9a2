import { KUBE_CLEANUP_BACKOFF, backoffDelay } from '../backoff.ts';
import { systemClock, type Clock, type Random } from '../clock.ts';
import type { Logger } from '../observability/logger.ts';
import { KubeError } from './errors.ts';
import type { NodeClient } from './nodeClient.ts';
import { MAINTENANCE_OFF } from '../mapping/maintenance.ts';
import { planNode } from './nodePlan.ts';
import { describeChanges, type ReconcilePolicy } from './reconcile.ts';
import type { NodeMeta } from './types.ts';

export interface CleanupSummary {
  /** Nodes looked at. */
  nodes: number;
  /** Nodes the owned keys were removed from (or would be, in a dry run). */
  cleaned: number;
  /** Nodes that carried nothing of the agent's. */
  unchanged: number;
  /** Nodes deleted between the list and their patch: nothing left to clean. */
  gone: number;
  /** Nodes that could not be cleaned, and why. */
  failed: { node: string; error: string }[];
}

export interface CleanupOptions {
  nodeName?: string;
  dryRun?: boolean;
  /** Nodes per list page: a cluster's whole node list does not fit the image's heap. */
  pageSize?: number;
  clock?: Clock;
  random?: Random;
}

const PAGE_SIZE = 100;
/** Attempts at one node for a conflict or a transient failure, before it counts as failed. */
const MAX_ATTEMPTS = 6;
/** Fresh starts of the list when its continue token expired (410): cleaned nodes need no patch. */
const MAX_RESTARTS = 10;

/**
 * Removes what the agent owns (the keys in its ownership record, and the record itself, its
 * start-up and maintenance taints, its maintenance condition) from the given node, or from every
 * node, a page of the list at a time. It is the agent's plan with nothing desired and scheduled
 * events off, so it can never touch a key the agent did not record, nor another taint or
 * condition. A node that fails is reported and the rest are cleaned all the same; a node deleted
 * meanwhile is no failure. The condition goes through nodes/status, which the hook may only
 * patch when the chart had scheduled events on: a refusal there is a warning, not a failure.
 */
export async function cleanupNodes(client: NodeClient, policy: ReconcilePolicy, logger: Logger, options: CleanupOptions = {}): Promise<CleanupSummary> {
  const summary: CleanupSummary = { nodes: 0, cleaned: 0, unchanged: 0, gone: 0, failed: [] };
  const limit = options.pageSize ?? PAGE_SIZE;
  let token: string | undefined;
  let restarts = 0;
  for (;;) {
    let page;
    try {
      page = await client.list({ ...(options.nodeName ? { name: options.nodeName } : {}), limit, ...(token ? { continue: token } : {}) });
    } catch (err) {
      if (!(err instanceof KubeError && err.kind === 'gone' && token && restarts < MAX_RESTARTS)) throw err;
      restarts++;
      logger.warn({ restarts }, 'node list expired part way; listing again from the start');
      token = undefined;
      continue;
    }
    for (const node of page.nodes) {
      summary.nodes++;
      const outcome = await cleanNode(client, policy, logger, node, options);
      if (typeof outcome === 'string') summary[outcome]++;
      else {
        summary.failed.push({ node: node.name, error: outcome.message });
        logger.error({ node: node.name, err: { kind: outcome.kind, status: outcome.status, message: outcome.message } }, 'could not remove owned keys; going on with the other nodes');
      }
    }
    token = page.continue || undefined;
    if (!token) return summary;
  }
}

async function cleanNode(client: NodeClient, policy: ReconcilePolicy, logger: Logger, first: NodeMeta, options: CleanupOptions): Promise<'cleaned' | 'unchanged' | 'gone' | KubeError> {
  let node = first;
  for (let attempt = 0; ; attempt++) {
    const plan = planNode({ labels: {}, annotations: {}, skipped: [] }, MAINTENANCE_OFF, node, policy, new Date().toISOString());
    const { result } = plan;
    if (!plan.patch && !plan.statusPatch) return 'unchanged';
    const removed = [...result.labels.removed, ...result.annotations.removed, ...plan.taints.removed];
    if (options.dryRun) {
      logger.info({ node: node.name, removed, condition: plan.statusPatch ? policy.nodeKeys.maintenanceCondition : undefined }, 'dry run: would remove owned keys');
      return 'cleaned';
    }
    try {
      if (plan.patch) {
        await client.patch(node.name, plan.patch);
        const taints = plan.taints.removed.length ? `taints ${plan.taints.removed.join(', ')}` : '';
        logger.info({ node: node.name }, `removed owned keys: ${[describeChanges(result), taints].filter(Boolean).join('; ') || 'ownership record'}`);
      }
      if (plan.statusPatch) {
        try {
          await client.patchStatus(node.name, plan.statusPatch);
          logger.info({ node: node.name, condition: policy.nodeKeys.maintenanceCondition }, 'removed the maintenance condition');
        } catch (err) {
          if (!(err instanceof KubeError) || err.retryable || err.kind === 'not-found') throw err;
          logger.warn({ node: node.name, err: err.logFields(), condition: policy.nodeKeys.maintenanceCondition }, 'could not remove the maintenance condition (no nodes/status permission); it stays on the node');
        }
      }
      return 'cleaned';
    } catch (err) {
      const error = err instanceof KubeError ? err : new KubeError('other', String(err));
      if (error.kind === 'not-found') return 'gone';
      if (!error.retryable || attempt + 1 >= MAX_ATTEMPTS) return error;
      if (error.kind !== 'conflict') {
        await (options.clock ?? systemClock).sleep(backoffDelay(attempt, KUBE_CLEANUP_BACKOFF, options.random ?? Math.random, error.retryAfterMs));
      }
      try {
        const fresh = (await client.list({ name: node.name })).nodes[0];
        if (!fresh) return 'gone';
        node = fresh;
      } catch (readError) {
        if (readError instanceof KubeError && !readError.retryable) return readError;
      }
    }
  }
}
