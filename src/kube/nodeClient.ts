import type { MetadataPatch, NodeEvent, NodeMeta, StatusPatch, WatchEventType } from './types.ts';

export interface WatchHandlers {
  onEvent(type: WatchEventType, node: NodeMeta): void;
  /** A BOOKMARK: nothing changed up to this resourceVersion. */
  onBookmark(resourceVersion: string): void;
}

export interface WatchOptions {
  resourceVersion: string;
  timeoutSeconds: number;
  signal: AbortSignal;
}

/** How a watch stream ended. 'gone' means the resourceVersion is too old: list again. */
export type WatchEnd = { reason: 'closed' } | { reason: 'gone' } | { reason: 'error'; error: Error };

export interface NodeList {
  nodes: NodeMeta[];
  resourceVersion: string;
  /** Set when the list was asked for a page (`limit`) and more nodes follow: pass it back as `continue`. */
  continue?: string;
}

export interface ListOptions {
  /** Only the node with this name (a field selector), for a watch to start from. */
  name?: string;
  /** At most this many nodes; the answer's `continue` fetches the next page. */
  limit?: number;
  continue?: string;
  signal?: AbortSignal;
}

/**
 * The narrow seam between the agent and the Kubernetes API. The only implementation that talks
 * to a cluster is built on @kubernetes/client-node; unit tests use an in-memory one.
 * Every failure is a KubeError.
 */
export interface NodeClient {
  /** Lists nodes: all, one by name, or a page at a time. */
  list(options?: ListOptions): Promise<NodeList>;
  /** Resolves when the stream ends; never rejects. */
  watch(name: string, options: WatchOptions, handlers: WatchHandlers): Promise<WatchEnd>;
  /** A JSON merge patch of the node (labels, annotations, spec.taints). */
  patch(name: string, patch: MetadataPatch, signal?: AbortSignal): Promise<NodeMeta>;
  /** A strategic merge patch of nodes/status (the agent's condition only). */
  patchStatus(name: string, patch: StatusPatch, signal?: AbortSignal): Promise<NodeMeta>;
  event(node: NodeMeta, event: NodeEvent): Promise<void>;
  /**
   * Not ok while no credentials can be had (an exec plugin that fails or hangs), or while the API
   * server refuses the impersonation of kube.identity node: the agent is then neither healthy nor ready.
   */
  health?(): { ok: boolean; reason?: string };
}
