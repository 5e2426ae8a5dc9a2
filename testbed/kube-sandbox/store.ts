/**
 * The object store: every resource's objects, one global resourceVersion counter (like etcd's
 * revision), and a bounded history of changes that serves watches from a resourceVersion and lists at
 * an older resourceVersion. Changes older than the history are compacted: asking for them is a 410.
 */
import { canonical } from './canonical.ts';
import { expired } from './status.ts';
import type { StorageName } from './resources.ts';
import { clone, metadataOf, type KubeObject } from './types.ts';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface Change {
  /** resourceVersion this change produced. */
  rv: number;
  type: ChangeType;
  storage: StorageName;
  key: string;
  /** The object after the change; for DELETED, the last state stamped with the deletion's rv. */
  object: KubeObject;
  /** The object before the change (MODIFIED, DELETED). */
  prev?: KubeObject;
}

export type ChangeListener = (change: Change) => void;

export interface StoreOptions {
  /** Changes kept for watch replay and consistent pagination. */
  historyLimit: number;
  /** resourceVersion of the empty store. */
  initialResourceVersion?: number;
}

export class Store {
  #rv: number;
  #compacted: number;
  readonly #limit: number;
  readonly #objects = new Map<StorageName, Map<string, KubeObject>>([
    ['nodes', new Map()],
    ['events', new Map()],
  ]);
  readonly #history: Change[] = [];
  readonly #listeners = new Set<ChangeListener>();

  constructor(options: StoreOptions) {
    this.#rv = options.initialResourceVersion ?? 1;
    this.#compacted = this.#rv;
    this.#limit = Math.max(1, options.historyLimit);
  }

  /** Current resourceVersion: the rv of the latest write. */
  get resourceVersion(): number {
    return this.#rv;
  }

  /** Oldest resourceVersion still watchable: a watch from below it gets 410 Expired. */
  get compactedResourceVersion(): number {
    return this.#compacted;
  }

  get(storage: StorageName, key: string): KubeObject | undefined {
    const o = this.#map(storage).get(key);
    return o === undefined ? undefined : clone(o);
  }

  has(storage: StorageName, key: string): boolean {
    return this.#map(storage).has(key);
  }

  /**
   * Every object of a storage (or those `match` accepts), sorted by key (the order etcd lists
   * them). Filtering before copying keeps a list with a field selector for one node, which each
   * agent of a fleet sends, from copying every node.
   */
  list(storage: StorageName, match?: (stored: KubeObject) => boolean): KubeObject[] {
    const entries = [...this.#map(storage).entries()];
    return (match ? entries.filter(([, o]) => match(o)) : entries).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, o]) => clone(o));
  }

  /** The objects as they were at `rv`, rebuilt from history. Throws 410 Expired when compacted. */
  listAt(storage: StorageName, rv: number): KubeObject[] {
    if (rv >= this.#rv) return this.list(storage);
    if (rv < this.#compacted) {
      throw expired(`The resourceVersion for the provided list is too old.`);
    }
    const state = new Map(this.#map(storage));
    for (let i = this.#history.length - 1; i >= 0; i--) {
      const c = this.#history[i]!;
      if (c.rv <= rv) break;
      if (c.storage !== storage) continue;
      if (c.type === 'ADDED') state.delete(c.key);
      else if (c.prev !== undefined) state.set(c.key, c.prev);
    }
    return [...state.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, o]) => clone(o));
  }

  /**
   * Changes with rv > `rv` (those `keep` accepts), oldest first; undefined when some were
   * compacted away. Filtering before copying keeps a watch of one node from copying every other
   * node's changes, which a fleet of watchers would otherwise pay on every re-watch.
   */
  changesAfter(rv: number, keep?: (c: Change) => boolean): Change[] | undefined {
    if (rv < this.#compacted) return undefined;
    const out: Change[] = [];
    for (let i = this.#history.length - 1; i >= 0 && this.#history[i]!.rv > rv; i--) if (!keep || keep(this.#history[i]!)) out.push(this.#history[i]!);
    return out.reverse().map((c) => ({ ...c, object: clone(c.object), ...(c.prev ? { prev: clone(c.prev) } : {}) }));
  }

  create(storage: StorageName, key: string, obj: KubeObject): KubeObject {
    if (this.#map(storage).has(key)) throw new Error(`store: ${storage} ${key} exists`);
    return this.#commit('ADDED', storage, key, obj, undefined);
  }

  update(storage: StorageName, key: string, obj: KubeObject): KubeObject {
    const prev = this.#map(storage).get(key);
    if (prev === undefined) throw new Error(`store: ${storage} ${key} does not exist`);
    return this.#commit('MODIFIED', storage, key, obj, prev);
  }

  delete(storage: StorageName, key: string): KubeObject | undefined {
    const prev = this.#map(storage).get(key);
    if (prev === undefined) return undefined;
    return this.#commit('DELETED', storage, key, prev, prev);
  }

  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #map(storage: StorageName): Map<string, KubeObject> {
    return this.#objects.get(storage)!;
  }

  #commit(type: ChangeType, storage: StorageName, key: string, obj: KubeObject, prev: KubeObject | undefined): KubeObject {
    const rv = ++this.#rv;
    const stored = canonical(clone(obj));
    metadataOf(stored).resourceVersion = String(rv);
    if (type === 'DELETED') this.#map(storage).delete(key);
    else this.#map(storage).set(key, stored);
    const change: Change = { rv, type, storage, key, object: stored, ...(prev ? { prev } : {}) };
    this.#history.push(change);
    while (this.#history.length > this.#limit) this.#compacted = this.#history.shift()!.rv;
    for (const l of [...this.#listeners]) {
      try {
        l({ ...change, object: clone(stored), ...(prev ? { prev: clone(prev) } : {}) });
      } catch {
        // a failing watcher must not fail the write
      }
    }
    return clone(stored);
  }
}
