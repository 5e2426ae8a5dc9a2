/**
 * The REST semantics of the generic apiserver registry over the store: create, get, list (selectors,
 * pagination, resourceVersion), update (optimistic concurrency), patch (JSON, merge, strategic), delete
 * (preconditions, finalizers), deletecollection. Works on plain JSON; the HTTP layer is in server.ts.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../src/clock.ts';
import { PatchError } from './patch/errors.ts';
import { applyJsonPatch } from './patch/json.ts';
import { applyMergePatch } from './patch/merge.ts';
import { applyStrategicMergePatch } from './patch/strategic.ts';
import { groupResource, keyOf, pruneUnknownFields, storageKey, type ResourceDef } from './resources.ts';
import { SelectorError, matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.ts';
import {
  ApiError,
  alreadyExists,
  badRequest,
  conflict,
  deleteSuccess,
  expired,
  internalError,
  invalid,
  notFound,
  unprocessable,
  unsupportedPatchType,
} from './status.ts';
import type { Store } from './store.ts';
import { clone, deepEqual, isObject, metadataOf, type JsonObject, type KubeObject } from './types.ts';
import { stringMapError } from './validation.ts';

export type FieldValidation = 'Ignore' | 'Warn' | 'Strict';

export interface WriteOptions {
  dryRun?: boolean;
  fieldValidation?: FieldValidation;
}

export interface WriteResult {
  /** The object in its served shape. */
  object: KubeObject;
  /** HTTP code: 201 for a create, 200 otherwise. */
  code: number;
  /** `Warning` header texts (unknown fields under fieldValidation=Warn). */
  warnings: string[];
}

export interface ListQuery {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'] as const;

const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

interface ContinueToken {
  rv: number;
  start: string;
}

export function encodeContinue(t: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: t.rv, start: t.start })).toString('base64url');
}

function decodeContinue(token: string): ContinueToken {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { v?: unknown; rv?: unknown; start?: unknown };
    if (parsed.v !== 'meta.k8s.io/v1' || typeof parsed.rv !== 'number' || typeof parsed.start !== 'string') throw new Error('bad token');
    return { rv: parsed.rv, start: parsed.start };
  } catch {
    throw badRequest(`continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)`);
  }
}

export class Registry {
  readonly #store: Store;
  readonly #clock: Clock;

  constructor(store: Store, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  /** RFC 3339 timestamp, second precision, as metav1.Time serializes. */
  timestamp(): string {
    return new Date(this.#clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  /** A predicate over stored objects for a namespace and label/field selectors. Throws 400. */
  matcher(def: ResourceDef, namespace: string | undefined, labelSelector?: string, fieldSelector?: string): (stored: KubeObject) => boolean {
    let labels, fields;
    try {
      labels = parseLabelSelector(labelSelector ?? '');
      fields = parseFieldSelector(fieldSelector ?? '');
    } catch (err) {
      if (err instanceof SelectorError) throw badRequest(err.message);
      throw err;
    }
    const known = Object.keys(def.fieldLabels({ metadata: {} }));
    for (const f of fields) if (!known.includes(f.field)) throw badRequest(`field label not supported: ${f.field}`);
    return (o) => {
      const meta = isObject(o.metadata) ? o.metadata : {};
      if (def.namespaced && namespace !== undefined && meta.namespace !== namespace) return false;
      if (!matchesLabels(labels, (isObject(meta.labels) ? meta.labels : {}) as Record<string, string>)) return false;
      return fields.length === 0 || matchesFields(fields, def.fieldLabels(o));
    };
  }

  get(def: ResourceDef, namespace: string | undefined, name: string): KubeObject {
    const o = this.#store.get(def.storage, storageKey(def, namespace, name));
    if (o === undefined) throw notFound(groupResource(def), name);
    return def.toExternal(o);
  }

  list(def: ResourceDef, namespace: string | undefined, q: ListQuery): ListResult {
    const match = this.matcher(def, namespace, q.labelSelector, q.fieldSelector);
    let rv = this.#store.resourceVersion;
    let start: string | undefined;
    let all: KubeObject[];
    if (q.continue) {
      const token = decodeContinue(q.continue);
      rv = token.rv;
      start = token.start;
      try {
        all = this.#store.listAt(def.storage, rv);
      } catch (err) {
        if (err instanceof ApiError && err.code === 410) {
          throw expired(
            'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
          );
        }
        throw err;
      }
    } else if (q.resourceVersionMatch === 'Exact' && q.resourceVersion) {
      if (!/^\d+$/.test(q.resourceVersion)) throw badRequest(`resourceVersion: Invalid value: ${JSON.stringify(q.resourceVersion)}: must be a valid resource version`);
      rv = Number(q.resourceVersion);
      all = this.#store.listAt(def.storage, rv);
    } else {
      all = this.#store.list(def.storage, match);
    }
    let matched = all.filter(match);
    if (start !== undefined) matched = matched.filter((o) => keyOf(def, o) >= start!);
    const out: ListResult = { items: [], resourceVersion: String(rv) };
    const limit = q.limit !== undefined && q.limit > 0 ? q.limit : undefined;
    if (limit !== undefined && matched.length > limit) {
      const page = matched.slice(0, limit);
      out.continue = encodeContinue({ rv, start: `${keyOf(def, page[page.length - 1]!)}\u0000` });
      if (!q.labelSelector && !q.fieldSelector) out.remainingItemCount = matched.length - limit;
      matched = page;
    }
    out.items = matched.map((o) => def.toExternal(o));
    return out;
  }

  create(def: ResourceDef, namespace: string | undefined, body: unknown, opts: WriteOptions = {}): WriteResult {
    const { obj, warnings } = this.#decode(def, body, opts);
    const meta = metadataOf(obj);
    if (def.namespaced) {
      if (typeof meta.namespace === 'string' && meta.namespace !== '' && meta.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = namespace ?? '';
    } else {
      delete meta.namespace;
    }
    if ((typeof meta.name !== 'string' || meta.name === '') && typeof meta.generateName === 'string' && meta.generateName !== '') {
      meta.name = this.#generateName(def, namespace, meta.generateName);
    }
    if (typeof meta.resourceVersion === 'string' && meta.resourceVersion !== '') throw internalError('resourceVersion should not be set on objects to be created');
    delete meta.resourceVersion;
    meta.uid = randomUUID();
    meta.creationTimestamp = this.timestamp();
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.managedFields;
    delete meta.selfLink;
    normalize(obj);
    const name = typeof meta.name === 'string' ? meta.name : '';
    const errs = def.validate(obj);
    if (errs.length) throw invalid(def.kind, def.group, name, errs);
    const key = storageKey(def, namespace, name);
    if (this.#store.has(def.storage, key)) throw alreadyExists(groupResource(def), name);
    if (opts.dryRun) return { object: def.toExternal(obj), code: 201, warnings };
    return { object: def.toExternal(this.#store.create(def.storage, key, obj)), code: 201, warnings };
  }

  update(def: ResourceDef, namespace: string | undefined, name: string, subresource: string | undefined, body: unknown, opts: WriteOptions = {}): WriteResult {
    const key = storageKey(def, namespace, name);
    const old = this.#store.get(def.storage, key);
    if (old === undefined) {
      if (def.allowCreateOnUpdate && subresource === undefined) {
        if (isObject(body)) {
          const m = metadataOf(body);
          if (m.name === undefined || m.name === '') m.name = name;
          if (m.name !== name) throw badRequest(`the name of the object (${String(m.name)}) does not match the name on the URL (${name})`);
          delete m.resourceVersion;
        }
        return this.create(def, namespace, body, opts);
      }
      throw notFound(groupResource(def), name);
    }
    const { obj, warnings } = this.#decode(def, body, opts);
    return this.#commitUpdate(def, namespace, name, key, subresource, old, obj, warnings, opts);
  }

  patch(
    def: ResourceDef,
    namespace: string | undefined,
    name: string,
    subresource: string | undefined,
    contentType: string,
    patch: unknown,
    opts: WriteOptions = {},
  ): WriteResult {
    if (!(PATCH_TYPES as readonly string[]).includes(contentType)) throw unsupportedPatchType();
    const key = storageKey(def, namespace, name);
    const old = this.#store.get(def.storage, key);
    if (old === undefined) throw notFound(groupResource(def), name);
    const current = def.toExternal(clone(old));
    let patched: KubeObject;
    try {
      if (contentType === 'application/json-patch+json') patched = applyJsonPatch(current, patch);
      else if (contentType === 'application/merge-patch+json') patched = applyMergePatch(current, patch);
      else patched = applyStrategicMergePatch(current, patch, def.smpSchema);
    } catch (err) {
      if (err instanceof PatchError) throw err.kind === 'bad' ? badRequest(err.message) : unprocessable();
      throw err;
    }
    if (!isObject(patched)) throw unprocessable();
    const { obj, warnings } = this.#decode(def, patched, opts);
    return this.#commitUpdate(def, namespace, name, key, subresource, old, obj, warnings, opts);
  }

  delete(def: ResourceDef, namespace: string | undefined, name: string, options: unknown, opts: WriteOptions = {}): { object: JsonObject; code: number } {
    const key = storageKey(def, namespace, name);
    const old = this.#store.get(def.storage, key);
    const gr = groupResource(def);
    if (old === undefined) throw notFound(gr, name);
    const meta = metadataOf(old);
    const pre = isObject(options) && isObject(options.preconditions) ? options.preconditions : {};
    if (typeof pre.uid === 'string' && pre.uid !== meta.uid) {
      throw conflict(gr, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${String(meta.uid)}`);
    }
    if (typeof pre.resourceVersion === 'string' && pre.resourceVersion !== meta.resourceVersion) {
      throw conflict(gr, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${String(meta.resourceVersion)}`);
    }
    const finalizers = Array.isArray(meta.finalizers) ? meta.finalizers : [];
    if (finalizers.length > 0) {
      if (meta.deletionTimestamp !== undefined || opts.dryRun) return { object: def.toExternal(old), code: 200 };
      meta.deletionTimestamp = this.timestamp();
      meta.deletionGracePeriodSeconds = 0;
      return { object: def.toExternal(this.#store.update(def.storage, key, old)), code: 200 };
    }
    if (!opts.dryRun) this.#store.delete(def.storage, key);
    return { object: deleteSuccess(gr, name, typeof meta.uid === 'string' ? meta.uid : undefined), code: 200 };
  }

  deleteCollection(def: ResourceDef, namespace: string | undefined, q: ListQuery, opts: WriteOptions = {}): JsonObject {
    const match = this.matcher(def, namespace, q.labelSelector, q.fieldSelector);
    const deleted: KubeObject[] = [];
    for (const o of this.#store.list(def.storage).filter(match)) {
      const meta = metadataOf(o);
      const r = this.delete(def, typeof meta.namespace === 'string' ? meta.namespace : undefined, String(meta.name), undefined, opts);
      deleted.push(r.object.kind === 'Status' ? def.toExternal(o) : r.object);
    }
    return {
      kind: def.listKind,
      apiVersion: def.apiVersion,
      metadata: { resourceVersion: String(this.#store.resourceVersion) },
      items: deleted.map(stripTypeMeta),
    };
  }

  #generateName(def: ResourceDef, namespace: string | undefined, prefix: string): string {
    for (;;) {
      let suffix = '';
      for (let i = 0; i < 5; i++) suffix += GENERATE_ALPHABET[Math.floor(Math.random() * GENERATE_ALPHABET.length)];
      const base = prefix.length > 58 ? prefix.slice(0, 58) : prefix;
      const name = `${base}${suffix}`;
      if (!this.#store.has(def.storage, storageKey(def, namespace, name))) return name;
    }
  }

  /** Body → stored shape: type checks, TypeMeta checks, unknown fields per fieldValidation. */
  #decode(def: ResourceDef, body: unknown, opts: WriteOptions): { obj: KubeObject; warnings: string[] } {
    if (!isObject(body)) throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(body)}'`);
    if (typeof body.apiVersion === 'string' && body.apiVersion !== '' && body.apiVersion !== def.apiVersion) {
      throw badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${def.apiVersion})`);
    }
    if (typeof body.kind === 'string' && body.kind !== '' && body.kind !== def.kind) {
      throw badRequest(`the kind in the data (${body.kind}) does not match the expected kind (${def.kind})`);
    }
    if (body.metadata !== undefined && body.metadata !== null && !isObject(body.metadata)) {
      throw badRequest(`json: cannot unmarshal ${Array.isArray(body.metadata) ? 'array' : typeof body.metadata} into Go struct field ${def.kind}.metadata of type v1.ObjectMeta`);
    }
    const meta = isObject(body.metadata) ? body.metadata : {};
    for (const f of ['labels', 'annotations'] as const) {
      const e = stringMapError(meta[f], `ObjectMeta.metadata.${f}`);
      if (e) throw badRequest(e);
    }
    if (meta.finalizers !== undefined && meta.finalizers !== null && (!Array.isArray(meta.finalizers) || meta.finalizers.some((f) => typeof f !== 'string'))) {
      throw badRequest('json: cannot unmarshal into Go struct field ObjectMeta.metadata.finalizers of type []string');
    }
    const { pruned, unknown } = pruneUnknownFields(clone(body), def.fields);
    const warnings: string[] = [];
    const mode = opts.fieldValidation ?? 'Warn';
    if (unknown.length && mode === 'Strict') throw badRequest(`strict decoding error: ${unknown.map((u) => `unknown field "${u}"`).join(', ')}`);
    if (unknown.length && mode === 'Warn') for (const u of unknown) warnings.push(`unknown field "${u}"`);
    return { obj: def.toStorage(pruned), warnings };
  }

  #commitUpdate(
    def: ResourceDef,
    namespace: string | undefined,
    name: string,
    key: string,
    subresource: string | undefined,
    old: KubeObject,
    obj: KubeObject,
    warnings: string[],
    opts: WriteOptions,
  ): WriteResult {
    const gr = groupResource(def);
    const meta = metadataOf(obj);
    const oldMeta = metadataOf(old);
    if (meta.name === undefined || meta.name === '' || meta.name === null) meta.name = name;
    if (meta.name !== name) throw badRequest(`the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`);
    if (def.namespaced) {
      if (meta.namespace === undefined || meta.namespace === '' || meta.namespace === null) meta.namespace = namespace ?? '';
      if (meta.namespace !== namespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    } else {
      delete meta.namespace;
    }
    const rv = meta.resourceVersion;
    if (typeof rv === 'string' && rv !== '' && rv !== oldMeta.resourceVersion) throw conflict(gr, name);
    if (meta.uid === undefined || meta.uid === '' || meta.uid === null) meta.uid = oldMeta.uid ?? null;
    else if (meta.uid !== oldMeta.uid) throw conflict(gr, name, `Precondition failed: UID in precondition: ${String(meta.uid)}, UID in object meta: ${String(oldMeta.uid)}`);
    for (const f of ['creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'managedFields'] as const) {
      if (oldMeta[f] === undefined) delete meta[f];
      else meta[f] = oldMeta[f]!;
    }
    delete meta.selfLink;
    if (def.subresources.includes('status')) {
      if (subresource === 'status') {
        if (old.spec === undefined) delete obj.spec;
        else obj.spec = old.spec;
      } else if (old.status === undefined) {
        delete obj.status;
      } else {
        obj.status = old.status;
      }
    }
    normalize(obj);
    const errs = def.validate(obj);
    if (errs.length) throw invalid(def.kind, def.group, name, errs);
    meta.resourceVersion = oldMeta.resourceVersion ?? null;
    if (deepEqual(obj, old)) return { object: def.toExternal(old), code: 200, warnings };
    if (oldMeta.deletionTimestamp !== undefined && !(Array.isArray(meta.finalizers) && meta.finalizers.length > 0)) {
      if (opts.dryRun) return { object: def.toExternal(obj), code: 200, warnings };
      this.#store.update(def.storage, key, obj);
      this.#store.delete(def.storage, key);
      return { object: def.toExternal(this.#store.get(def.storage, key) ?? obj), code: 200, warnings };
    }
    if (opts.dryRun) return { object: def.toExternal(obj), code: 200, warnings };
    return { object: def.toExternal(this.#store.update(def.storage, key, obj)), code: 200, warnings };
  }
}

/** What Go's omitempty does to ObjectMeta: empty maps and lists vanish. */
function normalize(obj: KubeObject): void {
  const meta = metadataOf(obj);
  for (const f of ['labels', 'annotations'] as const) {
    const m = meta[f];
    if (m === null || (isObject(m) && Object.keys(m).length === 0)) delete meta[f];
    else if (isObject(m)) for (const [k, v] of Object.entries(m)) if (v === null) delete m[k];
  }
  for (const f of ['finalizers', 'ownerReferences'] as const) {
    const l = meta[f];
    if (l === null || (Array.isArray(l) && l.length === 0)) delete meta[f];
  }
  for (const f of ['generateName', 'namespace'] as const) if (meta[f] === '' || meta[f] === null) delete meta[f];
}

/** List items carry no apiVersion/kind on the wire. */
export function stripTypeMeta(o: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = o;
  return rest;
}
