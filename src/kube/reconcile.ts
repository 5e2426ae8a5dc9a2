import type { Desired } from '../mapping/desired.ts';
import type { NodeKeys, OwnershipKeys } from '../keys/keys.ts';
import { formatList, readOwnership } from './ownership.ts';
import type { MetadataPatch, NodeMeta } from './types.ts';

export interface ReconcilePolicy {
  ownershipKeys: OwnershipKeys;
  /** The agent's taints, condition type and next-event annotation (src/kube/nodePlan.ts). */
  nodeKeys: NodeKeys;
  /** The keys this agent may write under its current config: its own prefixes, plus opted-in well-known keys. */
  mayOwn: (key: string) => boolean;
  /**
   * The keys this agent may remove when its ownership record names them: any key it could have
   * written under its prefixes, whatever the config says now (the well-known keys even when the
   * opt-in was since turned off). It guards against a forged record naming someone else's key.
   */
  mayRemove: (key: string) => boolean;
  /**
   * Whether the agent may change the node's taints (its start-up and maintenance taints): not when
   * it acts as its node, because NodeRestriction refuses any taint change by a node, and a patch
   * carrying one would take the labels down with it.
   */
  manageTaints: boolean;
}

export interface KeyChanges {
  added: string[];
  changed: string[];
  removed: string[];
}

export interface ReconcileResult {
  /** null when the node already matches: nothing is written. */
  patch: MetadataPatch | null;
  labels: KeyChanges;
  annotations: KeyChanges;
  /** Keys owned once the patch is applied. */
  ownedLabels: string[];
  ownedAnnotations: string[];
  /** Desired keys outside what the agent may write (its prefixes, opted-in well-known keys). */
  refused: string[];
  /**
   * Desired keys another writer set first (on the node, not in the record) to a different value:
   * not the agent's, so never overwritten, and never removed.
   */
  conflicts: string[];
  /** Recorded labels kept at their last good value because IMDS now sends an invalid one. */
  held: string[];
}

/**
 * The whole decision, as a pure function of (desired, observed node, ownership record on it).
 * It returns the minimal merge patch, guarded by the node's resourceVersion.
 *
 * Ownership works as Node Feature Discovery's does: only keys in the record are the agent's.
 * A key on the node that the record does not name belongs to whoever set it, even under the
 * agent's own prefixes. A recorded key is forgotten only once it is gone from the node: one no
 * longer desired is removed (whatever the current config would write) and then dropped from the
 * record, so a config change or an uninstall never strands a label the agent wrote.
 */
export function reconcile(desired: Pick<Desired, 'labels' | 'annotations' | 'problems' | 'unknownLabels' | 'unknownAnnotations'>, node: NodeMeta, policy: ReconcilePolicy): ReconcileResult {
  const owned = readOwnership(node.annotations, policy.ownershipKeys);
  const refused: string[] = [];
  const conflicts: string[] = [];
  const held: string[] = [];
  const bookkeeping = new Set([policy.ownershipKeys.labels, policy.ownershipKeys.annotations]);
  // A field IMDS now sends garbage for keeps the value last written: garbage never removes a label.
  const invalid = new Set((desired.problems ?? []).filter((p) => p.reason !== 'annotation-too-large').map((p) => p.key));
  // Keys the document cannot tell about (a field the api-version lacks) stay as the node has them, and stay owned.
  const keep = new Set([...invalid, ...(desired.unknownLabels ?? [])]);

  const plan = (want: Record<string, string>, have: Record<string, string>, previously: ReadonlySet<string>, heldKeys: ReadonlySet<string>) => {
    const target: Record<string, string> = {};
    for (const [key, value] of Object.entries(want)) {
      if (!policy.mayOwn(key) || bookkeeping.has(key)) refused.push(key);
      else if (key in have && !previously.has(key)) {
        if (have[key] !== value) conflicts.push(key);
      } else target[key] = value;
    }
    const changes: KeyChanges = { added: [], changed: [], removed: [] };
    const patch: Record<string, string | null> = {};
    const record = new Set(Object.keys(target));
    for (const [key, value] of Object.entries(target)) {
      if (!(key in have)) changes.added.push(key);
      else if (have[key] !== value) changes.changed.push(key);
      else continue;
      patch[key] = value;
    }
    for (const key of previously) {
      // Gone from the node (or the record's own key): nothing left to own.
      if (key in target || !(key in have) || bookkeeping.has(key)) continue;
      if (heldKeys.has(key)) {
        if (invalid.has(key)) held.push(key);
        record.add(key);
      } else if (policy.mayRemove(key)) {
        changes.removed.push(key);
        patch[key] = null;
      } else {
        // Not a key this agent may remove (a forged record, or one written under another prefix):
        // left alone, and still recorded, so nothing the agent may have written is forgotten.
        record.add(key);
      }
    }
    return { record: [...record].sort(), changes, patch };
  };

  const labels = plan(desired.labels, node.labels, owned.labels, keep);
  const annotations = plan(desired.annotations, node.annotations, owned.annotations, new Set(desired.unknownAnnotations ?? []));
  const ownedLabels = labels.record;
  const ownedAnnotations = annotations.record;

  const record = (key: string, keys: string[]) => {
    const value = keys.length ? formatList(keys) : undefined;
    if (value !== node.annotations[key]) annotations.patch[key] = value ?? null;
  };
  record(policy.ownershipKeys.labels, ownedLabels);
  record(policy.ownershipKeys.annotations, ownedAnnotations);

  const hasLabels = Object.keys(labels.patch).length > 0;
  const hasAnnotations = Object.keys(annotations.patch).length > 0;
  const patch: MetadataPatch | null =
    hasLabels || hasAnnotations
      ? {
          metadata: {
            resourceVersion: node.resourceVersion,
            ...(hasLabels ? { labels: sortKeys(labels.patch) } : {}),
            ...(hasAnnotations ? { annotations: sortKeys(annotations.patch) } : {}),
          },
        }
      : null;

  return {
    patch,
    labels: sorted(labels.changes),
    annotations: sorted(annotations.changes),
    ownedLabels,
    ownedAnnotations,
    refused: refused.sort(),
    conflicts: conflicts.sort(),
    held: held.sort(),
  };
}

/** The node as it will be once the patch is applied; used for dry runs and tests. */
export function applyPatch(node: NodeMeta, patch: MetadataPatch | null): NodeMeta {
  if (!patch) return node;
  const merge = (base: Record<string, string>, p?: Record<string, string | null>) => {
    const out = { ...base };
    for (const [k, v] of Object.entries(p ?? {})) {
      if (v === null) delete out[k];
      else out[k] = v;
    }
    return out;
  };
  return {
    ...node,
    labels: merge(node.labels, patch.metadata.labels),
    annotations: merge(node.annotations, patch.metadata.annotations),
    ...(patch.spec ? { taints: patch.spec.taints.map((t) => ({ ...t })) } : {}),
  };
}

export function describeChanges(result: Pick<ReconcileResult, 'labels' | 'annotations'>): string {
  const parts: string[] = [];
  for (const [what, c] of [['label', result.labels], ['annotation', result.annotations]] as const) {
    if (c.added.length) parts.push(`added ${what}s ${c.added.join(', ')}`);
    if (c.changed.length) parts.push(`changed ${what}s ${c.changed.join(', ')}`);
    if (c.removed.length) parts.push(`removed ${what}s ${c.removed.join(', ')}`);
  }
  return parts.join('; ');
}

const sorted = (c: KeyChanges): KeyChanges => ({ added: c.added.sort(), changed: c.changed.sort(), removed: c.removed.sort() });
const sortKeys = <T>(o: Record<string, T>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
