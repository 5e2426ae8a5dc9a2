import type { Desired } from '../mapping/desired.ts';
import type { OwnershipKeys } from '../keys/keys.ts';
import { formatList, readOwnership } from './ownership.ts';
import type { MetadataPatch, NodeMeta } from './types.ts';

export interface ReconcilePolicy {
  ownershipKeys: OwnershipKeys;
  /** The keys this agent may ever write: its own prefixes, plus opted-in well-known keys. */
  mayOwn: (key: string) => boolean;
  /**
   * Keys that belong to someone else unless this agent wrote them (the well-known topology
   * labels): never overwritten when another writer set them first.
   */
  isShared: (key: string) => boolean;
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
  /** Desired keys left alone: outside the agent's prefixes, or shared keys someone else set. */
  refused: string[];
}

/**
 * The whole decision, as a pure function of (desired, observed node, ownership record on it).
 * It returns the minimal merge patch, guarded by the node's resourceVersion.
 */
export function reconcile(desired: Pick<Desired, 'labels' | 'annotations' | 'unknownLabels'>, node: NodeMeta, policy: ReconcilePolicy): ReconcileResult {
  const owned = readOwnership(node.annotations, policy.ownershipKeys);
  const refused: string[] = [];
  const bookkeeping = new Set([policy.ownershipKeys.labels, policy.ownershipKeys.annotations]);

  const plan = (want: Record<string, string>, have: Record<string, string>, previously: ReadonlySet<string>, unknown: readonly string[] = []) => {
    const target: Record<string, string> = {};
    for (const [key, value] of Object.entries(want)) {
      if (!policy.mayOwn(key) || bookkeeping.has(key)) refused.push(key);
      else if (policy.isShared(key) && key in have && !previously.has(key) && have[key] !== value) refused.push(key);
      else if (policy.isShared(key) && key in have && !previously.has(key)) continue; // someone else's, already right
      else target[key] = value;
    }
    // Keys the document cannot tell about stay as the node has them, and stay owned.
    for (const key of unknown) {
      if (!(key in target) && key in have && previously.has(key) && policy.mayOwn(key) && !bookkeeping.has(key)) target[key] = have[key]!;
    }
    const changes: KeyChanges = { added: [], changed: [], removed: [] };
    const patch: Record<string, string | null> = {};
    for (const [key, value] of Object.entries(target)) {
      if (!(key in have)) changes.added.push(key);
      else if (have[key] !== value) changes.changed.push(key);
      else continue;
      patch[key] = value;
    }
    for (const key of previously) {
      // mayOwn guards against a forged ownership record naming someone else's key.
      if (!(key in target) && key in have && policy.mayOwn(key) && !bookkeeping.has(key)) {
        changes.removed.push(key);
        patch[key] = null;
      }
    }
    return { target, changes, patch };
  };

  const labels = plan(desired.labels, node.labels, owned.labels, desired.unknownLabels);
  const annotations = plan(desired.annotations, node.annotations, owned.annotations);
  const ownedLabels = Object.keys(labels.target).sort();
  const ownedAnnotations = Object.keys(annotations.target).sort();

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

  return { patch, labels: sorted(labels.changes), annotations: sorted(annotations.changes), ownedLabels, ownedAnnotations, refused: refused.sort() };
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
  return { ...node, labels: merge(node.labels, patch.metadata.labels), annotations: merge(node.annotations, patch.metadata.annotations) };
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
