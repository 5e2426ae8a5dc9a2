import type { Logger } from '../observability/logger.ts';
import { KubeError } from './errors.ts';
import type { NodeClient } from './nodeClient.ts';
import { describeChanges, reconcile, type ReconcilePolicy } from './reconcile.ts';

export interface CleanupResult {
  node: string;
  removed: string[];
}

/**
 * Removes what the agent owns (the keys in its ownership record, and the record itself) from the
 * given nodes, or from every node. It is reconcile with nothing desired, so it can never touch a
 * key the agent did not write.
 */
export async function cleanupNodes(client: NodeClient, policy: ReconcilePolicy, logger: Logger, options: { nodeName?: string; dryRun?: boolean }): Promise<CleanupResult[]> {
  const results: CleanupResult[] = [];
  const { nodes } = await client.list(options.nodeName ? { name: options.nodeName } : {});
  for (let node of nodes) {
    for (let attempt = 0; ; attempt++) {
      const result = reconcile({ labels: {}, annotations: {} }, node, policy);
      if (!result.patch) break;
      const removed = [...result.labels.removed, ...result.annotations.removed];
      if (options.dryRun) {
        logger.info({ node: node.name, removed }, 'dry run: would remove owned keys');
        results.push({ node: node.name, removed });
        break;
      }
      try {
        await client.patch(node.name, result.patch);
        logger.info({ node: node.name }, `removed owned keys: ${describeChanges(result) || 'ownership record'}`);
        results.push({ node: node.name, removed });
        break;
      } catch (err) {
        if (!(err instanceof KubeError) || err.kind !== 'conflict' || attempt >= 5) throw err;
        const fresh = (await client.list({ name: node.name })).nodes[0];
        if (!fresh) break;
        node = fresh;
      }
    }
  }
  return results;
}
