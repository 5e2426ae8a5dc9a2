/**
 * The kube sandbox: an in-memory Kubernetes API server for Nodes and Events that kubectl and
 * @kubernetes/client-node talk to as they would to kube-apiserver. See docs/sandbox.md.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { systemClock, type Clock } from '../../src/clock.ts';
import { Counters, type CounterSnapshot, type Verb } from './counters.ts';
import { SERVER_VERSION, apiGroup, apiGroupList, apiVersions, coreResourceList, groupResourceList } from './discovery.ts';
import { FaultEngine, FaultPlanError, parseSandboxFaults, type FaultDecision, type SandboxFaults } from './faults.ts';
import { mediaType, negotiate, type Negotiated } from './negotiation.ts';
import { seedNode } from './nodes.ts';
import { openApiV3Document, openApiV3Root } from './openapi.ts';
import { Registry, stripTypeMeta, type FieldValidation, type ListQuery, type WriteOptions } from './registry.ts';
import { NODES, RESOURCES, groupResource, type ResourceDef } from './resources.ts';
import {
  ApiError,
  badRequest,
  entityTooLarge,
  expired,
  internalError,
  methodNotAllowed,
  pathNotFound,
  statusForCode,
  unsupportedMediaType,
  unsupportedPatchType,
  type Status,
} from './status.ts';
import { Store } from './store.ts';
import { parseIncludeObject, partialObjectMetadata, toTable, type IncludeObject } from './table.ts';
import { clone, isObject, type JsonObject, type KubeObject, type SandboxNode } from './types.ts';
import { WatchHub, type WatchEvent, type WatchSink } from './watchHub.ts';

export type { SandboxFaults } from './faults.ts';
export type { CounterSnapshot } from './counters.ts';
export type { SandboxNode } from './types.ts';

export interface SandboxOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
  /** Nodes to create at start, with the metadata and status a kubelet registers. */
  nodes?: string[];
  faults?: SandboxFaults;
  clock?: Clock;
  /** Changes kept for watch replay (default 1000); watching from an older resourceVersion gets 410. */
  historyLimit?: number;
  /** Interval of BOOKMARK events on watches that allow them (default 60 000 ms, as apiserver). */
  bookmarkIntervalMs?: number;
  /** Watch duration when the client sends no timeoutSeconds (default 1800 s). */
  defaultWatchTimeoutSeconds?: number;
}

export interface Sandbox {
  url: string;
  port: number;
  /** Stops listening, ends open watches, drops connections. */
  close(): Promise<void>;
  /** YAML kubeconfig: cluster, user and context named `sandbox`. */
  kubeconfig(): string;
  writeKubeconfig(path: string): void;
  counters(): CounterSnapshot;
  resetCounters(): void;
  /** Replaces the fault plan (throws FaultPlanError when invalid). */
  setFaults(f: SandboxFaults): void;
  /** Direct store access for tests: not counted, no faults, but bumps resourceVersion and notifies watches. */
  getNode(name: string): SandboxNode | undefined;
  putNode(node: SandboxNode): SandboxNode;
  deleteNode(name: string): boolean;
  listNodes(): SandboxNode[];
  listEvents(): JsonObject[];
  /** Current resourceVersion of the store. */
  resourceVersion(): string;
}

const MAX_BODY_BYTES = 3 * 1024 * 1024;
const BODY_TYPES = ['application/json', 'application/yaml'];

interface Route {
  def: ResourceDef;
  namespace?: string;
  name?: string;
  subresource?: string;
  verb: Verb;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const clock = options.clock ?? systemClock;
  const host = options.host ?? '127.0.0.1';
  const store = new Store({ historyLimit: options.historyLimit ?? 1000, initialResourceVersion: 1000 });
  const registry = new Registry(store, clock);
  const hub = new WatchHub(store, clock, { bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000 });
  const counters = new Counters();
  const faults = new FaultEngine(() => clock.now());
  const shutdown = new AbortController();
  const sockets = new Set<Socket>();
  let listening = false;
  let port = options.port ?? 0;

  (options.nodes ?? []).forEach((name, i) => {
    const node = seedNode(name, i, registry.timestamp());
    const errs = NODES.validate(node);
    if (errs.length) throw new Error(`invalid node name ${JSON.stringify(name)}: ${errs.map((e) => e.detail).join('; ')}`);
    store.create('nodes', name, node);
  });

  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendStatus(res, err instanceof ApiError ? err : internalError(String((err as Error)?.message ?? err)));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (socket: Socket) => {
    if (faults.refuseConnection()) {
      socket.resetAndDestroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  const listen = (p: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, host, () => {
        server.off('error', reject);
        listening = true;
        resolve();
      });
    });
  await listen(port);
  port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}`;

  const dropConnections = (except?: Socket): void => {
    for (const s of sockets) if (s !== except) s.destroy();
  };

  /** Sets a plan; a refuse window drops open connections (but not `except`, the control request's). */
  const applyFaults = (input: unknown, except?: Socket): void => {
    const plan = parseSandboxFaults(input);
    faults.set(plan);
    if (!plan.refuse) return;
    hub.closeAll();
    dropConnections(except);
    if (plan.refuse.mode === 'close' && plan.refuse.forMs !== undefined && listening) {
      listening = false;
      server.close();
      void clock.sleep(plan.refuse.forMs, shutdown.signal).then(
        () => listen(port).catch(() => undefined),
        () => undefined,
      );
    }
  };
  if (options.faults) applyFaults(options.faults);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://sandbox');
    const path = u.pathname;
    if (path === '/_sandbox' || path.startsWith('/_sandbox/')) return control(req, res, path);
    const segments = path.split('/').filter((s) => s !== '');
    const top = segments[0];
    const isResourcePath = (top === 'api' && segments.length > 2) || (top === 'apis' && segments.length > 3);
    if (!isResourcePath) {
      counters.recordNonResource();
      return nonResource(req, res, segments);
    }
    const route = routeOf(req.method ?? 'GET', segments, u.searchParams);
    const resourceLabel = route.def.resource + (route.subresource ? `/${route.subresource}` : '');
    counters.record(route.verb, resourceLabel);
    const decision = faults.decide({ verb: route.verb, resource: resourceLabel, name: route.name, namespace: route.namespace });
    if (decision.latencyMs > 0) {
      try {
        await clock.sleep(decision.latencyMs, shutdown.signal);
      } catch {
        res.destroy();
        return;
      }
    }
    if (decision.status) {
      throw statusForCode(decision.status.code, groupResource(route.def), route.name, {
        ...(decision.status.retryAfter !== undefined ? { retryAfterSeconds: decision.status.retryAfter } : {}),
        ...(decision.status.message !== undefined ? { message: decision.status.message } : {}),
      });
    }
    return serveResource(req, res, route, u.searchParams, decision);
  }

  async function serveResource(req: IncomingMessage, res: ServerResponse, route: Route, q: URLSearchParams, decision: FaultDecision): Promise<void> {
    const { def, namespace, name, subresource } = route;
    const accept = req.headers.accept;
    switch (route.verb) {
      case 'get': {
        const n = negotiate(accept, { allowTable: true, allowYaml: true });
        const obj = registry.get(def, namespace, name!);
        return sendObject(res, 200, shape(def, n, obj, q), n);
      }
      case 'list': {
        const n = negotiate(accept, { allowTable: true, allowYaml: true });
        const list = registry.list(def, namespace, listQuery(q));
        const listMeta: JsonObject = { resourceVersion: list.resourceVersion };
        if (list.continue) listMeta.continue = list.continue;
        if (list.remainingItemCount !== undefined) listMeta.remainingItemCount = list.remainingItemCount;
        let body: JsonObject;
        if (n.table) {
          body = toTable(def.table, list.items, { now: clock.now(), includeObject: includeObject(q), noHeaders: false, listMeta, tableVersion: n.table });
        } else if (n.partial) {
          body = {
            kind: 'PartialObjectMetadataList',
            apiVersion: `meta.k8s.io/${n.partial}`,
            metadata: listMeta,
            items: list.items.map((o) => ({ ...partialObjectMetadata(o), apiVersion: `meta.k8s.io/${n.partial}` })),
          };
        } else {
          body = { kind: def.listKind, apiVersion: def.apiVersion, metadata: listMeta, items: list.items.map(stripTypeMeta) };
        }
        return sendObject(res, 200, body, n);
      }
      case 'watch':
        return serveWatch(req, res, route, q, decision);
      case 'create': {
        const n = negotiate(accept, { allowTable: false, allowYaml: true });
        const body = await readBody(req, BODY_TYPES);
        const r = registry.create(def, namespace, body, writeOptions(q));
        return sendObject(res, r.code, r.object, n, r.warnings);
      }
      case 'update': {
        const n = negotiate(accept, { allowTable: false, allowYaml: true });
        const body = await readBody(req, BODY_TYPES);
        const r = registry.update(def, namespace, name!, subresource, body, writeOptions(q));
        return sendObject(res, r.code, r.object, n, r.warnings);
      }
      case 'patch': {
        const n = negotiate(accept, { allowTable: false, allowYaml: true });
        const type = mediaType(req.headers['content-type']);
        if (type === 'application/apply-patch+yaml' || type === 'application/apply-patch+cbor') {
          await drain(req);
          throw unsupportedMediaType(['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json']);
        }
        const body = await readBody(req, ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json']);
        const r = registry.patch(def, namespace, name!, subresource, type, body, writeOptions(q));
        return sendObject(res, r.code, r.object, n, r.warnings);
      }
      case 'delete': {
        const n = negotiate(accept, { allowTable: false, allowYaml: true });
        const body = await readOptionalBody(req);
        const opts = writeOptions(q);
        const r = registry.delete(def, namespace, name!, body, opts);
        return sendObject(res, r.code, r.object, n);
      }
      case 'deletecollection': {
        const n = negotiate(accept, { allowTable: false, allowYaml: true });
        await readOptionalBody(req);
        return sendObject(res, 200, registry.deleteCollection(def, namespace, listQuery(q), writeOptions(q)), n);
      }
    }
  }

  function serveWatch(req: IncomingMessage, res: ServerResponse, route: Route, q: URLSearchParams, decision: FaultDecision): void {
    const { def, namespace } = route;
    const n = negotiate(req.headers.accept, { allowTable: true, allowYaml: false });
    let fieldSelector = q.get('fieldSelector') ?? undefined;
    if (route.name !== undefined) fieldSelector = [`metadata.name=${route.name}`, fieldSelector].filter(Boolean).join(',');
    const matches = registry.matcher(def, namespace, q.get('labelSelector') ?? undefined, fieldSelector);
    const timeoutParam = q.get('timeoutSeconds');
    let timeoutSeconds = options.defaultWatchTimeoutSeconds ?? 1800;
    if (timeoutParam !== null && timeoutParam !== '') {
      if (!/^\d+$/.test(timeoutParam)) throw badRequest(`timeoutSeconds: Invalid value: ${JSON.stringify(timeoutParam)}: must be a non-negative integer`);
      if (Number(timeoutParam) > 0) timeoutSeconds = Number(timeoutParam);
    }
    const rv = q.get('resourceVersion') ?? undefined;
    if (rv !== undefined && rv !== '' && rv !== '0' && !/^\d+$/.test(rv)) throw badRequest(`invalid resource version: ${JSON.stringify(rv)}`);
    const include = includeObject(q);

    res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    let first = true;
    const encode = (ev: WatchEvent): JsonObject => {
      if (ev.type === 'ERROR') return { type: ev.type, object: ev.object };
      if (n.table) {
        const noHeaders = !first;
        first = false;
        const rows = ev.type === 'BOOKMARK' ? [] : [ev.object];
        const meta = isObject(ev.object.metadata) ? ev.object.metadata : {};
        return {
          type: ev.type,
          object: toTable(def.table, rows, { now: clock.now(), includeObject: include, noHeaders, listMeta: { resourceVersion: meta.resourceVersion ?? '' }, tableVersion: n.table }),
        };
      }
      if (n.partial && ev.type !== 'BOOKMARK') return { type: ev.type, object: { ...partialObjectMetadata(ev.object), apiVersion: `meta.k8s.io/${n.partial}` } };
      return { type: ev.type, object: ev.object };
    };
    const sink: WatchSink = {
      write: (ev) => {
        if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify(encode(ev))}\n`);
      },
      end: () => {
        if (!res.writableEnded) res.end();
      },
      // A drop mid-stream: the events already written reach the client, then the connection closes
      // without the final chunk, so the client sees the response cut short.
      destroy: () => {
        const s = res.socket;
        if (!s || s.destroyed) return;
        s.write('', () => setImmediate(() => s.destroy()));
      },
    };
    if (decision.watchError) {
      const err = decision.watchError.code === 410 ? expired(decision.watchError.message ?? `too old resource version: ${rv ?? 0} (${store.compactedResourceVersion})`) : statusForCode(decision.watchError.code, groupResource(def), route.name, decision.watchError.message ? { message: decision.watchError.message } : {});
      sink.write({ type: 'ERROR', object: err.status as unknown as JsonObject });
      sink.end();
      return;
    }
    const handle = hub.start(
      {
        storage: def.storage,
        matches,
        toExternal: (o) => def.toExternal(o),
        apiVersion: def.apiVersion,
        kind: def.kind,
        ...(rv !== undefined ? { resourceVersion: rv } : {}),
        sendInitialEvents: boolParam(q.get('sendInitialEvents')),
        allowBookmarks: boolParam(q.get('allowWatchBookmarks')),
        timeoutMs: timeoutSeconds * 1000,
        ...(decision.dropWatch?.afterEvents !== undefined ? { dropAfterEvents: decision.dropWatch.afterEvents } : {}),
        ...(decision.dropWatch?.afterMs !== undefined ? { dropAfterMs: decision.dropWatch.afterMs } : {}),
        ...(decision.dropWatch ? { dropMode: decision.dropWatch.mode } : {}),
      },
      sink,
    );
    res.on('close', () => handle.close());
  }

  function nonResource(req: IncomingMessage, res: ServerResponse, segments: string[]): void {
    const p = `/${segments.join('/')}`;
    if (p === '/healthz' || p === '/livez' || p === '/readyz') {
      res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
      res.end('ok');
      return;
    }
    let body: JsonObject | undefined;
    if (p === '/api') body = apiVersions(`${host}:${port}`);
    else if (p === '/api/v1') body = coreResourceList();
    else if (p === '/apis') body = apiGroupList();
    else if (segments[0] === 'apis' && segments.length === 2) body = apiGroup(segments[1]!);
    else if (segments[0] === 'apis' && segments.length === 3) body = groupResourceList(segments[1]!, segments[2]!);
    else if (p === '/version') body = { ...SERVER_VERSION };
    else if (p === '/openapi/v3') body = openApiV3Root(SERVER_VERSION.gitVersion);
    else if (segments[0] === 'openapi' && segments[1] === 'v3') body = openApiV3Document(segments.slice(2).join('/'), SERVER_VERSION.gitVersion);
    if (body === undefined) throw pathNotFound();
    if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed();
    // Plain application/json even when aggregated discovery is asked for: clients fall back to it.
    sendObject(res, 200, body, { format: 'json' });
  }

  async function control(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const json = (code: number, body: unknown): void => {
      res.writeHead(code, { 'Content-Type': 'application/json', Connection: 'close' });
      res.end(JSON.stringify(body));
    };
    if (path === '/_sandbox/counters' && req.method === 'GET') return json(200, counters.snapshot());
    if (path === '/_sandbox/counters/reset' && req.method === 'POST') {
      counters.reset();
      return json(200, counters.snapshot());
    }
    if (path === '/_sandbox/faults' && req.method === 'GET') return json(200, faults.describe());
    if (path === '/_sandbox/faults' && req.method === 'POST') {
      const text = (await readRaw(req)).toString('utf8');
      try {
        applyFaults(text.trim() === '' ? {} : parseYaml(text), req.socket);
      } catch (err) {
        if (err instanceof FaultPlanError) return json(400, { error: err.message, field: err.field ?? null });
        return json(400, { error: `not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}` });
      }
      return json(200, faults.describe());
    }
    return json(404, { error: `no control endpoint ${req.method} ${path}` });
  }

  function shape(def: ResourceDef, n: Negotiated, obj: KubeObject, q: URLSearchParams): JsonObject {
    const meta = isObject(obj.metadata) ? obj.metadata : {};
    if (n.table) {
      return toTable(def.table, [obj], { now: clock.now(), includeObject: includeObject(q), noHeaders: false, listMeta: { resourceVersion: meta.resourceVersion ?? '' }, tableVersion: n.table });
    }
    if (n.partial) return { ...partialObjectMetadata(obj), apiVersion: `meta.k8s.io/${n.partial}` };
    return obj;
  }

  const sandbox: Sandbox = {
    url,
    port,
    async close() {
      shutdown.abort();
      hub.closeAll();
      await new Promise<void>((resolve) => {
        if (!listening) return resolve();
        listening = false;
        server.close(() => resolve());
        server.closeAllConnections();
        dropConnections();
      });
    },
    kubeconfig() {
      return stringifyYaml({
        apiVersion: 'v1',
        kind: 'Config',
        // client-node refuses plain http unless TLS verification is (vacuously) off.
        clusters: [{ name: 'sandbox', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
        contexts: [{ name: 'sandbox', context: { cluster: 'sandbox', user: 'sandbox' } }],
        'current-context': 'sandbox',
        users: [{ name: 'sandbox', user: { token: 'sandbox-token' } }],
        preferences: {},
      });
    },
    writeKubeconfig(path) {
      writeFileSync(path, sandbox.kubeconfig(), { mode: 0o600 });
    },
    counters: () => counters.snapshot(),
    resetCounters: () => counters.reset(),
    setFaults: (f) => applyFaults(f),
    getNode: (name) => store.get('nodes', name) as SandboxNode | undefined,
    putNode(node) {
      const obj = clone(node) as unknown as KubeObject;
      obj.kind = 'Node';
      obj.apiVersion = 'v1';
      const meta = isObject(obj.metadata) ? obj.metadata : {};
      const name = meta.name;
      if (typeof name !== 'string' || name === '') throw new Error('putNode: metadata.name is required');
      const errs = NODES.validate(obj);
      if (errs.length) throw new Error(`putNode: ${errs.map((e) => `${e.field}: ${e.detail ?? e.type}`).join('; ')}`);
      const old = store.get('nodes', name);
      meta.uid ??= (old?.metadata as JsonObject | undefined)?.uid ?? randomUUID();
      meta.creationTimestamp ??= (old?.metadata as JsonObject | undefined)?.creationTimestamp ?? registry.timestamp();
      delete meta.resourceVersion;
      obj.metadata = meta;
      return (old ? store.update('nodes', name, obj) : store.create('nodes', name, obj)) as unknown as SandboxNode;
    },
    deleteNode: (name) => store.delete('nodes', name) !== undefined,
    listNodes: () => store.list('nodes') as unknown as SandboxNode[],
    listEvents: () => store.list('events'),
    resourceVersion: () => String(store.resourceVersion),
  };
  return sandbox;
}

function routeOf(method: string, segments: string[], q: URLSearchParams): Route {
  let group: string;
  let rest: string[];
  if (segments[0] === 'api') {
    if (segments[1] !== 'v1') throw pathNotFound();
    group = '';
    rest = segments.slice(2);
  } else {
    group = segments[1]!;
    if (segments[2] !== 'v1') throw pathNotFound();
    rest = segments.slice(3);
  }
  let legacyWatch = false;
  if (rest[0] === 'watch') {
    legacyWatch = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces') {
    if (rest.length < 3) throw pathNotFound();
    namespace = decodeSegment(rest[1]!);
    rest = rest.slice(2);
  }
  if (rest.length === 0 || rest.length > 3) throw pathNotFound();
  const def = RESOURCES.find((d) => d.group === group && d.resource === rest[0]);
  if (!def) throw pathNotFound();
  if (!def.namespaced && namespace !== undefined) throw pathNotFound();
  const name = rest[1] !== undefined ? decodeSegment(rest[1]) : undefined;
  const subresource = rest[2];
  if (subresource !== undefined && !def.subresources.includes(subresource)) throw pathNotFound();
  if (def.namespaced && namespace === undefined && name !== undefined) throw pathNotFound();
  const base = { def, ...(namespace !== undefined ? { namespace } : {}), ...(name !== undefined ? { name } : {}), ...(subresource ? { subresource } : {}) };
  const watchParam = boolParam(q.get('watch'));
  let verb: Verb;
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (legacyWatch) verb = 'watch';
      else if (name === undefined) verb = watchParam ? 'watch' : 'list';
      else verb = 'get';
      if (verb === 'watch' && subresource) throw methodNotAllowed();
      break;
    case 'POST':
      if (name !== undefined || (def.namespaced && namespace === undefined) || legacyWatch) throw methodNotAllowed();
      verb = 'create';
      break;
    case 'PUT':
      if (name === undefined || legacyWatch) throw methodNotAllowed();
      verb = 'update';
      break;
    case 'PATCH':
      if (name === undefined || legacyWatch) throw methodNotAllowed();
      verb = 'patch';
      break;
    case 'DELETE':
      if (subresource || legacyWatch) throw methodNotAllowed();
      if (name === undefined && def.namespaced && namespace === undefined) throw methodNotAllowed();
      verb = name === undefined ? 'deletecollection' : 'delete';
      break;
    default:
      throw methodNotAllowed();
  }
  return { ...base, verb };
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw pathNotFound();
  }
}

function boolParam(v: string | null): boolean {
  return v !== null && ['true', '1', 't', 'T', 'TRUE', 'True'].includes(v);
}

function includeObject(q: URLSearchParams): IncludeObject {
  const v = parseIncludeObject(q.get('includeObject'));
  if (v === undefined) throw badRequest(`includeObject: Unsupported value: ${JSON.stringify(q.get('includeObject'))}: supported values: "None", "Metadata", "Object"`);
  return v;
}

function listQuery(q: URLSearchParams): ListQuery {
  const out: ListQuery = {};
  for (const k of ['labelSelector', 'fieldSelector', 'continue', 'resourceVersion', 'resourceVersionMatch'] as const) {
    const v = q.get(k);
    if (v !== null && v !== '') out[k] = v;
  }
  const limit = q.get('limit');
  if (limit !== null && /^\d+$/.test(limit)) out.limit = Number(limit);
  return out;
}

function writeOptions(q: URLSearchParams): WriteOptions {
  const out: WriteOptions = {};
  const dry = q.getAll('dryRun');
  for (const d of dry) if (d !== 'All') throw badRequest(`Invalid dry run value: ${JSON.stringify(d)}; valid values: "All"`);
  if (dry.length) out.dryRun = true;
  const fv = q.get('fieldValidation');
  if (fv !== null && fv !== '') {
    if (fv !== 'Ignore' && fv !== 'Warn' && fv !== 'Strict') {
      throw badRequest(`fieldValidation: Unsupported value: ${JSON.stringify(fv)}: supported values: "Ignore", "Strict", "Warn"`);
    }
    out.fieldValidation = fv as FieldValidation;
  }
  return out;
}

function commonHeaders(): Record<string, string> {
  return {
    'Audit-Id': randomUUID(),
    'Cache-Control': 'no-cache, private',
    'X-Kubernetes-Pf-Flowschema-Uid': '5b1c5fe4-5a5f-4a8b-8f35-0ed3b0c8d1a1',
    'X-Kubernetes-Pf-Prioritylevel-Uid': '8e8f4c2e-1f7b-4c4e-9d2a-7a8a5d0e2b3c',
  };
}

function sendObject(res: ServerResponse, code: number, body: unknown, n: Negotiated, warnings: string[] = []): void {
  const headers: Record<string, string | string[]> = { ...commonHeaders() };
  if (warnings.length) headers.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  if (n.format === 'yaml') {
    headers['Content-Type'] = 'application/yaml';
    res.writeHead(code, headers);
    res.end(stringifyYaml(body));
    return;
  }
  headers['Content-Type'] = 'application/json';
  res.writeHead(code, headers);
  res.end(`${JSON.stringify(body)}\n`);
}

function sendStatus(res: ServerResponse, err: ApiError): void {
  const status: Status = err.status;
  res.writeHead(status.code, { ...commonHeaders(), ...err.headers, 'Content-Type': 'application/json' });
  res.end(`${JSON.stringify(status)}\n`);
}

function readRaw(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(c);
    });
    req.on('end', () => (tooLarge ? reject(entityTooLarge(MAX_BODY_BYTES)) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

async function drain(req: IncomingMessage): Promise<void> {
  await readRaw(req).catch(() => undefined);
}

/** The decoded body; 415 for a media type outside `accepted`, 400 for a body that does not parse. */
async function readBody(req: IncomingMessage, accepted: readonly string[]): Promise<unknown> {
  const type = mediaType(req.headers['content-type']) || 'application/json';
  if (!accepted.includes(type)) {
    await drain(req);
    throw accepted.includes('application/json') ? unsupportedMediaType(['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf']) : unsupportedPatchType();
  }
  const text = (await readRaw(req)).toString('utf8');
  try {
    return type === 'application/yaml' ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw badRequest(`couldn't get version/kind; json parse error: ${(err as Error).message}`);
  }
}

async function readOptionalBody(req: IncomingMessage): Promise<unknown> {
  const text = (await readRaw(req)).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`couldn't get version/kind; json parse error: ${(err as Error).message}`);
  }
}
