/** A node taint as the API has it. */
export interface Taint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}

/** A node condition as the API has it (status.conditions, a list keyed by type). */
export interface NodeCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
}

/**
 * The slice of a Node the agent reads and writes: its identity, metadata maps, taints and
 * conditions. Taints and conditions are optional so a node built by hand (tests) may leave them
 * out; toNodeMeta always sets them.
 */
export interface NodeMeta {
  name: string;
  uid: string;
  resourceVersion: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  taints?: Taint[];
  conditions?: NodeCondition[];
}

/**
 * RFC 7386 merge patch of node metadata (null removes a key) and, when the taints change, the
 * whole of spec.taints (a merge patch replaces a list: the resourceVersion precondition keeps a
 * concurrent taint change of someone else from being lost).
 */
export interface MetadataPatch {
  metadata: {
    /** A precondition: the server answers 409 when the node changed since this version. */
    resourceVersion?: string;
    labels?: Record<string, string | null>;
    annotations?: Record<string, string | null>;
  };
  spec?: { taints: Taint[] };
}

/**
 * Strategic merge patch of nodes/status: conditions is a list keyed by type there, so the patch
 * names only the agent's condition and every other condition stays as it is.
 */
export interface StatusPatch {
  status: { conditions: (NodeCondition | { type: string; $patch: 'delete' })[] };
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface NodeEvent {
  reason: string;
  message: string;
  type: 'Normal' | 'Warning';
}

/** Reads the slice from any Node-shaped object (client-node's V1Node or plain JSON). */
export function toNodeMeta(node: {
  metadata?: { name?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { taints?: unknown };
  status?: { conditions?: unknown };
}): NodeMeta {
  const m = node.metadata ?? {};
  return {
    name: m.name ?? '',
    uid: m.uid ?? '',
    resourceVersion: m.resourceVersion ?? '',
    labels: { ...(m.labels ?? {}) },
    annotations: { ...(m.annotations ?? {}) },
    taints: listOf<Taint>(node.spec?.taints, (t) => typeof t.key === 'string' && typeof t.effect === 'string', ['key', 'value', 'effect', 'timeAdded']),
    conditions: listOf<NodeCondition>(node.status?.conditions, (c) => typeof c.type === 'string' && typeof c.status === 'string', [
      'type',
      'status',
      'reason',
      'message',
      'lastHeartbeatTime',
      'lastTransitionTime',
    ]),
  };
}

/** The well-formed items of a list, with only the named string fields: nothing else of the node is kept. */
function listOf<T>(value: unknown, ok: (item: Record<string, unknown>) => boolean, fields: readonly string[]): T[] {
  if (!Array.isArray(value)) return [];
  const out: T[] = [];
  for (const item of value) {
    if (typeof item !== 'object' || item === null || !ok(item as Record<string, unknown>)) continue;
    const picked: Record<string, string> = {};
    for (const f of fields) {
      const v = (item as Record<string, unknown>)[f];
      if (typeof v === 'string') picked[f] = v;
    }
    out.push(picked as T);
  }
  return out;
}
