import { TAINT_EFFECT } from '../keys/keys.ts';
import type { Desired } from '../mapping/desired.ts';
import type { DesiredCondition, Maintenance } from '../mapping/maintenance.ts';
import { reconcile, type ReconcilePolicy, type ReconcileResult } from './reconcile.ts';
import type { MetadataPatch, NodeCondition, NodeMeta, StatusPatch, Taint } from './types.ts';

/**
 * Everything the agent writes on its node, as one pure function of (desired state, node): the
 * labels and annotations of reconcile(), the taints, and the condition. The labels, annotations
 * and taints go in one merge patch guarded by the resourceVersion (a merge patch replaces the
 * whole taint list, so the precondition keeps someone else's concurrent taint change from being
 * lost: a 409, and the plan is made again from the fresh node); the condition goes in a
 * strategic merge patch of nodes/status, which names only the agent's condition.
 *
 * The start-up taint goes in the patch that brings the labels (or, when they already match, on
 * its own): the node loses it in the same write that makes it visible to topology spreading.
 */

export interface TaintChanges {
  added: string[];
  removed: string[];
}

export interface NodePlan {
  /** The labels' and annotations' reconcile (its patch is the metadata part of `patch`). */
  result: ReconcileResult;
  /** Labels, annotations and taints; null when none of them changes. */
  patch: MetadataPatch | null;
  /** The condition; null when it is as wanted. */
  statusPatch: StatusPatch | null;
  taints: TaintChanges;
}

export interface TaintIntent {
  /** Keys to remove, whatever the effect. */
  remove: readonly string[];
  /** Taints to have, exactly (by key); one with the same key but another value or effect is replaced in place. */
  ensure: readonly Taint[];
}

/**
 * The node's taint list with `intent` applied, every other taint kept as it is and where it is;
 * null when nothing changes.
 */
export function planTaints(current: readonly Taint[], intent: TaintIntent): { taints: Taint[]; changes: TaintChanges } | null {
  const changes: TaintChanges = { added: [], removed: [] };
  const remove = new Set(intent.remove);
  const ensure = new Map(intent.ensure.map((t) => [t.key, t]));
  const out: Taint[] = [];
  for (const t of current) {
    const wanted = ensure.get(t.key);
    if (remove.has(t.key) && !wanted) {
      changes.removed.push(t.key);
      continue;
    }
    if (wanted) {
      ensure.delete(t.key);
      if (!sameTaint(t, wanted)) {
        out.push(wanted);
        changes.added.push(t.key);
        continue;
      }
    }
    out.push(t);
  }
  for (const t of ensure.values()) {
    out.push(t);
    changes.added.push(t.key);
  }
  if (changes.added.length === 0 && changes.removed.length === 0) return null;
  return { taints: out, changes: { added: [...new Set(changes.added)].sort(), removed: [...new Set(changes.removed)].sort() } };
}

const sameTaint = (a: Taint, b: Taint) => a.key === b.key && a.effect === b.effect && (a.value ?? '') === (b.value ?? '');

/**
 * The strategic merge patch that makes the node's condition of `type` what is wanted (null:
 * none), or null when it already is. Only status, reason and message count: timestamps never
 * cause a write. The transition time moves only when the status does.
 */
export function conditionPatch(current: readonly NodeCondition[], type: string, want: DesiredCondition | null, nowIso: string): StatusPatch | null {
  const existing = current.find((c) => c.type === type);
  if (want === null) return existing ? { status: { conditions: [{ type, $patch: 'delete' }] } } : null;
  if (existing && existing.status === want.status && (existing.reason ?? '') === want.reason && (existing.message ?? '') === want.message) return null;
  const transition = existing && existing.status === want.status && existing.lastTransitionTime ? existing.lastTransitionTime : nowIso;
  return { status: { conditions: [{ type, status: want.status, reason: want.reason, message: want.message, lastHeartbeatTime: nowIso, lastTransitionTime: transition }] } };
}

/**
 * The whole plan. `maintenance` undefined means the scheduled events are not known yet (the
 * feature is on and has not answered): the condition, the next-event annotation and the
 * maintenance taint stay as the node has them.
 */
export function planNode(desired: Desired, maintenance: Maintenance | undefined, node: NodeMeta, policy: ReconcilePolicy, nowIso: string): NodePlan {
  const keys = policy.nodeKeys;
  const events: Maintenance = maintenance ?? { condition: undefined, annotations: {}, unknownAnnotations: [keys.scheduledEventAnnotation], taint: undefined };
  const result = reconcile(
    {
      ...desired,
      annotations: { ...desired.annotations, ...events.annotations },
      unknownAnnotations: [...(desired.unknownAnnotations ?? []), ...events.unknownAnnotations],
    },
    node,
    policy,
  );
  const maintenanceTaint: Taint = { key: keys.maintenanceTaint, effect: TAINT_EFFECT };
  const taints = !policy.manageTaints ? null : planTaints(node.taints ?? [], {
    remove: [keys.startupTaint, ...(events.taint === false ? [keys.maintenanceTaint] : [])],
    ensure: events.taint === true ? [maintenanceTaint] : [],
  });
  let patch = result.patch;
  if (taints) patch = { metadata: { ...(patch?.metadata ?? {}), resourceVersion: node.resourceVersion }, spec: { taints: taints.taints } };
  const statusPatch = events.condition === undefined ? null : conditionPatch(node.conditions ?? [], keys.maintenanceCondition, events.condition, nowIso);
  return { result, patch, statusPatch, taints: taints?.changes ?? { added: [], removed: [] } };
}
