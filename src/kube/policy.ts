import type { Config } from '../config/schema.ts';
import { nodeKeys, ownedKeyFilter, ownershipKeys } from '../keys/keys.ts';
import type { ReconcilePolicy } from './reconcile.ts';

/**
 * The keys the agent may write, enforced here whatever the mapping produced: anything under its
 * own prefixes, and the well-known keys only when the user opted in. What it may remove is wider
 * by exactly the well-known keys: a record naming one means an earlier config wrote it, and the
 * agent must be able to take it back once the opt-in is off (or on uninstall). Whether a key
 * belongs to another writer is decided by the ownership record, not here.
 */
export function reconcilePolicy(labels: Config['labels'], identity: Config['kube']['identity'] = 'serviceAccount'): ReconcilePolicy {
  return {
    ownershipKeys: ownershipKeys(labels.prefix),
    nodeKeys: nodeKeys(labels.prefix),
    mayOwn: ownedKeyFilter(labels),
    mayRemove: ownedKeyFilter({ ...labels, wellKnown: true }),
    manageTaints: identity !== 'node',
  };
}
