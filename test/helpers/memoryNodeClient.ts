import { KubeError } from '../../src/kube/errors.ts';
import type { NodeClient, WatchEnd, WatchHandlers, WatchOptions } from '../../src/kube/nodeClient.ts';
import { applyPatch } from '../../src/kube/reconcile.ts';
import type { MetadataPatch, NodeEvent, NodeMeta, StatusPatch, WatchEventType } from '../../src/kube/types.ts';

type Verb = 'list' | 'watch' | 'patch' | 'patchStatus' | 'event';

/**
 * An in-memory NodeClient for unit tests: one store, live watches, request counts and
 * injectable failures. End-to-end tests use the sandbox over HTTP instead.
 */
export class MemoryNodeClient implements NodeClient {
  nodes = new Map<string, NodeMeta>();
  events: { node: string; event: NodeEvent }[] = [];
  calls: Record<Verb, number> = { list: 0, watch: 0, patch: 0, patchStatus: 0, event: 0 };
  /** Errors thrown by the next calls of a verb, in order. */
  failures: Record<Verb, KubeError[]> = { list: [], watch: [], patch: [], patchStatus: [], event: [] };
  private rv = 100;
  private watchers = new Set<{ name: string; handlers: WatchHandlers; end: (e: WatchEnd) => void }>();

  put(node: Omit<NodeMeta, 'resourceVersion' | 'uid'> & Partial<NodeMeta>): NodeMeta {
    const existed = this.nodes.has(node.name);
    const stored: NodeMeta = { uid: `uid-${node.name}`, ...node, resourceVersion: String(++this.rv) };
    this.nodes.set(node.name, stored);
    this.notify(existed ? 'MODIFIED' : 'ADDED', stored);
    return stored;
  }

  remove(name: string): void {
    const node = this.nodes.get(name);
    if (!node) return;
    this.nodes.delete(name);
    this.notify('DELETED', { ...node, resourceVersion: String(++this.rv) });
  }

  /** Ends every open watch as the server would on its timeout. */
  closeWatches(end: WatchEnd = { reason: 'closed' }): void {
    for (const w of [...this.watchers]) w.end(end);
  }

  openWatches(): number {
    return this.watchers.size;
  }

  private take(verb: Verb): void {
    this.calls[verb]++;
    const failure = this.failures[verb].shift();
    if (failure) throw failure;
  }

  private notify(type: WatchEventType, node: NodeMeta): void {
    for (const w of this.watchers) if (w.name === node.name) w.handlers.onEvent(type, structuredClone(node));
  }

  /** Pages as the API server does: sorted by name, `continue` is the last name of the page. */
  async list(options: { name?: string; limit?: number; continue?: string } = {}) {
    this.take('list');
    const nodes = [...this.nodes.values()]
      .filter((n) => (!options.name || n.name === options.name) && (!options.continue || n.name > options.continue))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    const page = options.limit ? nodes.slice(0, options.limit) : nodes;
    const more = page.length < nodes.length;
    return { nodes: structuredClone(page), resourceVersion: String(this.rv), ...(more ? { continue: page.at(-1)!.name } : {}) };
  }

  watch(name: string, options: WatchOptions, handlers: WatchHandlers): Promise<WatchEnd> {
    try {
      this.take('watch');
    } catch (err) {
      return Promise.resolve({ reason: 'error', error: err as Error });
    }
    return new Promise((resolve) => {
      const entry = {
        name,
        handlers,
        end: (e: WatchEnd) => {
          this.watchers.delete(entry);
          resolve(e);
        },
      };
      this.watchers.add(entry);
      options.signal.addEventListener('abort', () => entry.end({ reason: 'closed' }), { once: true });
    });
  }

  async patch(name: string, patch: MetadataPatch): Promise<NodeMeta> {
    this.take('patch');
    const node = this.nodes.get(name);
    if (!node) throw new KubeError('not-found', `nodes "${name}" not found`, 404);
    if (patch.metadata.resourceVersion && patch.metadata.resourceVersion !== node.resourceVersion) {
      throw new KubeError('conflict', 'the object has been modified', 409);
    }
    const next = applyPatch(node, patch);
    return structuredClone(this.put({ ...next, resourceVersion: undefined } as never));
  }

  /** Strategic merge of status.conditions by type, as the API server does for nodes/status. */
  async patchStatus(name: string, patch: StatusPatch, _signal?: AbortSignal): Promise<NodeMeta> {
    this.take('patchStatus');
    const node = this.nodes.get(name);
    if (!node) throw new KubeError('not-found', `nodes "${name}" not found`, 404);
    const conditions = [...(node.conditions ?? [])];
    for (const item of patch.status.conditions) {
      const at = conditions.findIndex((c) => c.type === item.type);
      if ('$patch' in item) {
        if (at >= 0) conditions.splice(at, 1);
      } else if (at >= 0) conditions[at] = { ...conditions[at]!, ...item };
      else conditions.push(item);
    }
    return structuredClone(this.put({ ...node, conditions, resourceVersion: undefined } as never));
  }

  async event(node: NodeMeta, event: NodeEvent): Promise<void> {
    this.take('event');
    this.events.push({ node: node.name, event });
  }
}
