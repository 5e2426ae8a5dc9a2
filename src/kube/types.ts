/** The slice of a Node the agent reads and writes: its identity and metadata maps. */
export interface NodeMeta {
  name: string;
  uid: string;
  resourceVersion: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** RFC 7386 merge patch of node metadata; null removes a key. */
export interface MetadataPatch {
  metadata: {
    /** A precondition: the server answers 409 when the node changed since this version. */
    resourceVersion?: string;
    labels?: Record<string, string | null>;
    annotations?: Record<string, string | null>;
  };
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface NodeEvent {
  reason: string;
  message: string;
  type: 'Normal' | 'Warning';
}

/** Reads the metadata slice from any Node-shaped object (client-node's V1Node or plain JSON). */
export function toNodeMeta(node: {
  metadata?: { name?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
}): NodeMeta {
  const m = node.metadata ?? {};
  return {
    name: m.name ?? '',
    uid: m.uid ?? '',
    resourceVersion: m.resourceVersion ?? '',
    labels: { ...(m.labels ?? {}) },
    annotations: { ...(m.annotations ?? {}) },
  };
}
