/**
 * Watch sessions over the store, with kube-apiserver's semantics:
 * - no resourceVersion, or "0": synthetic ADDED for every current object, then changes;
 * - a resourceVersion: the changes after it, or one ERROR event (410 Expired) when compacted;
 * - sendInitialEvents=true: current objects as ADDED, then a BOOKMARK annotated
 *   `k8s.io/initial-events-end: "true"` (when bookmarks are allowed), then changes;
 * - selectors see transitions: an object that starts matching arrives as ADDED, one that stops
 *   matching as DELETED (its previous state, stamped with the change's resourceVersion);
 * - allowWatchBookmarks: a BOOKMARK carrying only the current resourceVersion, every bookmark interval;
 * - timeoutSeconds: the stream ends cleanly when it runs out.
 */
import type { Clock } from '../../src/clock.ts';
import { badRequest, expired } from './status.ts';
import type { Change, Store } from './store.ts';
import type { StorageName } from './resources.ts';
import type { JsonObject, KubeObject } from './types.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent {
  type: WatchEventType;
  object: JsonObject;
}

export interface WatchSink {
  /** Writes one event; the hub calls nothing after end() or destroy(). */
  write(event: WatchEvent): void;
  /** Ends the stream cleanly. */
  end(): void;
  /** Drops the connection abruptly. */
  destroy(): void;
}

export interface WatchSpec {
  storage: StorageName;
  /** Whether a stored object belongs in this watch (namespace, label and field selectors). */
  matches(stored: KubeObject): boolean;
  /** Stored shape → served shape (conversion; tables are the sink's business). */
  toExternal(stored: KubeObject): KubeObject;
  /** `apiVersion` and `kind` for BOOKMARK objects. */
  apiVersion: string;
  kind: string;
  /** The `resourceVersion` query parameter, as given. */
  resourceVersion?: string;
  sendInitialEvents?: boolean;
  allowBookmarks?: boolean;
  timeoutMs?: number;
  /** Faults: drop the connection after this many events or this long. */
  dropAfterEvents?: number;
  dropAfterMs?: number;
  dropMode?: 'reset' | 'end';
}

export interface WatchHandle {
  /** Stops the session (unsubscribes, cancels timers) and ends the sink. */
  close(): void;
  readonly closed: boolean;
}

export interface WatchHubOptions {
  bookmarkIntervalMs: number;
}

/** Parses a resourceVersion parameter: undefined for "start from current state". Throws 400 on junk. */
export function parseWatchResourceVersion(rv: string | undefined): number | undefined {
  if (rv === undefined || rv === '' || rv === '0') return undefined;
  if (!/^\d+$/.test(rv)) throw badRequest(`invalid resource version: ${JSON.stringify(rv)}`);
  return Number(rv);
}

export class WatchHub {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #options: WatchHubOptions;
  readonly #sessions = new Set<WatchHandle>();

  constructor(store: Store, clock: Clock, options: WatchHubOptions) {
    this.#store = store;
    this.#clock = clock;
    this.#options = options;
  }

  get active(): number {
    return this.#sessions.size;
  }

  /** Starts a session: writes the initial events synchronously, then follows the store. */
  start(spec: WatchSpec, sink: WatchSink): WatchHandle {
    const from = parseWatchResourceVersion(spec.resourceVersion);
    const abort = new AbortController();
    let closed = false;
    let sent = 0;
    let unsubscribe: () => void = () => {};
    const finish = (how: 'end' | 'reset'): void => {
      if (closed) return;
      closed = true;
      abort.abort();
      unsubscribe();
      this.#sessions.delete(handle);
      if (how === 'reset') sink.destroy();
      else sink.end();
    };
    const handle: WatchHandle = {
      close: () => finish('end'),
      get closed() {
        return closed;
      },
    };
    const emit = (ev: WatchEvent): void => {
      if (closed) return;
      sink.write(ev);
      sent++;
      if (spec.dropAfterEvents !== undefined && sent >= spec.dropAfterEvents) finish(spec.dropMode ?? 'reset');
    };
    this.#sessions.add(handle);

    if (spec.dropAfterEvents === 0) {
      finish(spec.dropMode ?? 'reset');
      return handle;
    }

    const initial = spec.sendInitialEvents === true || from === undefined;
    let replay: Change[] | undefined = [];
    if (!initial) {
      replay = this.#store.changesAfter(from!, (c) => c.storage === spec.storage && (spec.matches(c.object) || (c.prev !== undefined && spec.matches(c.prev))));
      if (replay === undefined) {
        const status = expired(`too old resource version: ${from} (${this.#store.compactedResourceVersion})`).status;
        emit({ type: 'ERROR', object: status as unknown as JsonObject });
        finish('end');
        return handle;
      }
    }

    // Subscribing and replaying happen in one synchronous step: no write can slip in between.
    unsubscribe = this.#store.subscribe((c) => {
      if (c.storage !== spec.storage) return;
      const ev = this.#toEvent(c, spec);
      if (ev) emit(ev);
    });
    if (initial) {
      for (const o of this.#store.list(spec.storage)) if (spec.matches(o)) emit({ type: 'ADDED', object: spec.toExternal(o) });
      if (spec.sendInitialEvents === true && spec.allowBookmarks === true) {
        emit(this.#bookmark(spec, { 'k8s.io/initial-events-end': 'true' }));
      }
    } else {
      for (const c of replay) {
        if (c.storage !== spec.storage) continue;
        const ev = this.#toEvent(c, spec);
        if (ev) emit(ev);
      }
    }
    if (closed) return handle;

    const sleep = (ms: number): Promise<boolean> =>
      this.#clock.sleep(ms, abort.signal).then(
        () => !closed,
        () => false,
      );
    if (spec.allowBookmarks === true && this.#options.bookmarkIntervalMs > 0) {
      void (async () => {
        while (await sleep(this.#options.bookmarkIntervalMs)) emit(this.#bookmark(spec));
      })();
    }
    if (spec.timeoutMs !== undefined && spec.timeoutMs > 0) {
      void sleep(spec.timeoutMs).then((alive) => alive && finish('end'));
    }
    if (spec.dropAfterMs !== undefined) {
      void sleep(spec.dropAfterMs).then((alive) => alive && finish(spec.dropMode ?? 'reset'));
    }
    return handle;
  }

  /** Ends every open session (server shutdown). */
  closeAll(): void {
    for (const s of [...this.#sessions]) s.close();
  }

  #bookmark(spec: WatchSpec, annotations?: Record<string, string>): WatchEvent {
    const metadata: JsonObject = { resourceVersion: String(this.#store.resourceVersion) };
    if (annotations) metadata.annotations = annotations;
    return { type: 'BOOKMARK', object: { kind: spec.kind, apiVersion: spec.apiVersion, metadata } };
  }

  #toEvent(c: Change, spec: WatchSpec): WatchEvent | undefined {
    const cur = c.type !== 'DELETED' && spec.matches(c.object);
    const prev = c.prev !== undefined && spec.matches(c.prev);
    switch (c.type) {
      case 'ADDED':
        return cur ? { type: 'ADDED', object: spec.toExternal(c.object) } : undefined;
      case 'DELETED':
        return prev ? { type: 'DELETED', object: spec.toExternal(c.object) } : undefined;
      case 'MODIFIED':
        if (cur && prev) return { type: 'MODIFIED', object: spec.toExternal(c.object) };
        if (cur) return { type: 'ADDED', object: spec.toExternal(c.object) };
        if (prev) {
          const old = structuredClone(c.prev!);
          (old.metadata as JsonObject).resourceVersion = String(c.rv);
          return { type: 'DELETED', object: spec.toExternal(old) };
        }
        return undefined;
    }
  }
}
