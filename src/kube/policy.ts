import type { Config } from '../config/schema.ts';
import { ownershipKeys } from './ownership.ts';
import type { ReconcilePolicy } from './reconcile.ts';

/** Labels cloud-provider-azure sets at registration; written only on explicit opt-in. */
export const WELL_KNOWN_KEYS = new Set(['topology.kubernetes.io/zone', 'topology.kubernetes.io/region', 'node.kubernetes.io/instance-type']);

/**
 * The keys the agent may write, enforced in code whatever the mapping produced: anything under
 * its own prefixes, and the well-known keys only when the user opted in.
 */
export function reconcilePolicy(labels: Config['labels']): ReconcilePolicy {
  const prefixes = [`${labels.prefix}/`, `${labels.tagPrefix}/`];
  return {
    ownershipKeys: ownershipKeys(labels.prefix),
    mayOwn: (key) => prefixes.some((p) => key.startsWith(p) && !key.slice(p.length).includes('/')) || (labels.wellKnown && WELL_KNOWN_KEYS.has(key)),
    isShared: (key) => WELL_KNOWN_KEYS.has(key),
  };
}
