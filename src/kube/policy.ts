import type { Config } from '../config/schema.ts';
import { isWellKnownKey, ownedKeyFilter, ownershipKeys } from '../keys/keys.ts';
import type { ReconcilePolicy } from './reconcile.ts';

/**
 * The keys the agent may write, enforced here whatever the mapping produced: anything under its
 * own prefixes, and the well-known keys only when the user opted in. Well-known keys are shared:
 * never overwritten when another writer set them first.
 */
export function reconcilePolicy(labels: Config['labels']): ReconcilePolicy {
  return { ownershipKeys: ownershipKeys(labels.prefix), mayOwn: ownedKeyFilter(labels), isShared: isWellKnownKey };
}
