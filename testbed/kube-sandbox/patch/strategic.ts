/**
 * Strategic merge patch (`application/strategic-merge-patch+json`), after
 * k8s.io/apimachinery/pkg/util/strategicpatch for the built-in types the sandbox serves.
 *
 * - Maps merge recursively; `null` deletes a key; `$patch: replace` replaces the map, `$patch: delete`
 *   empties it; `$retainKeys: [..]` drops keys not listed before merging.
 * - Lists follow the field's patch strategy from the schema: `merge` with a `patchMergeKey` merges
 *   items by key (`$patch: delete` items remove, a `{"$patch":"replace"}` item replaces the list),
 *   `merge` without a key is a set union (`$deleteFromPrimitiveList/<field>` removes values), anything
 *   else is atomic (the patch's list replaces the original).
 * - A merged list keyed by `patchMergeKey` takes the API server's order: the patch's items in patch
 *   order interleaved with the others in their server order, new items first.
 * - `$setElementOrder/<field>` reorders the merged list: listed items first in that order, others after.
 */
import { PatchError } from './errors.ts';
import { clone, deepEqual, isObject, type Json, type JsonObject } from '../types.ts';
import { setOwn } from './own.ts';

export interface StrategicSchema {
  /** Schemas of named fields of an object. */
  fields?: Record<string, StrategicSchema>;
  /** Strategy for a list field; absent means atomic (replace). */
  patchStrategy?: 'merge';
  /** Merge key of a list of objects with the merge strategy. */
  patchMergeKey?: string;
  /** Schema of the items of a list of objects. */
  items?: StrategicSchema;
}

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const DELETE_FROM_PRIMITIVE = '$deleteFromPrimitiveList/';
const SET_ELEMENT_ORDER = '$setElementOrder/';

/** Applies a strategic merge patch to a copy of `original`. */
export function applyStrategicMergePatch(original: JsonObject, patch: unknown, schema: StrategicSchema = {}): JsonObject {
  if (!isObject(patch)) throw new PatchError('bad', 'error decoding patch: json: cannot unmarshal into Go value of type map[string]interface {}');
  return mergeMap(clone(original), patch, schema);
}

function mergeMap(original: JsonObject, patch: JsonObject, schema: StrategicSchema | undefined): JsonObject {
  if (Object.hasOwn(patch, DIRECTIVE)) {
    const d = patch[DIRECTIVE];
    if (d === 'replace') {
      const out = clone(patch);
      delete out[DIRECTIVE];
      return out;
    }
    if (d === 'delete') return {};
    throw new PatchError('bad', `Unknown patch type: ${JSON.stringify(d)} in map: ${JSON.stringify(patch)}`);
  }
  const result = original;
  const retain = patch[RETAIN_KEYS];
  if (retain !== undefined) {
    if (!Array.isArray(retain)) throw new PatchError('bad', `$retainKeys must be a list, got ${JSON.stringify(retain)}`);
    for (const k of Object.keys(result)) if (!retain.includes(k) && !Object.hasOwn(patch, k)) delete result[k];
  }
  const orders: [string, Json[]][] = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith(DELETE_FROM_PRIMITIVE)) {
      const field = k.slice(DELETE_FROM_PRIMITIVE.length);
      if (!Array.isArray(v)) throw new PatchError('bad', `${k} must be a list`);
      const cur = result[field];
      if (Array.isArray(cur)) {
        const kept = cur.filter((x) => !v.some((d) => deepEqual(d, x)));
        if (kept.length) setOwn(result, field, kept);
        else delete result[field];
      }
      continue;
    }
    if (k.startsWith(SET_ELEMENT_ORDER)) {
      if (!Array.isArray(v)) throw new PatchError('bad', `${k} must be a list`);
      orders.push([k.slice(SET_ELEMENT_ORDER.length), v]);
      continue;
    }
    if (k === RETAIN_KEYS) continue;
    if (v === null) {
      delete result[k];
      continue;
    }
    const child = schema?.fields?.[k];
    const cur = result[k];
    if (isObject(v)) {
      setOwn(result, k, mergeMap(isObject(cur) ? cur : {}, v, child));
    } else if (Array.isArray(v)) {
      setOwn(result, k, mergeList(Array.isArray(cur) ? cur : [], v, child));
    } else {
      setOwn(result, k, v);
    }
  }
  for (const [field, order] of orders) {
    const cur = result[field];
    if (Array.isArray(cur)) result[field] = applyOrder(cur, order, schema?.fields?.[field]?.patchMergeKey);
  }
  return result;
}

function mergeList(original: Json[], patch: Json[], schema: StrategicSchema | undefined): Json[] {
  if (schema?.patchStrategy !== 'merge') return clone(patch);
  if (patch.some((p) => isObject(p) && p[DIRECTIVE] === 'replace')) {
    return patch.filter((p) => !(isObject(p) && p[DIRECTIVE] === 'replace')).map((p) => (isObject(p) ? stripDirectives(p) : clone(p)));
  }
  const key = schema.patchMergeKey;
  const result = original;
  if (key === undefined) {
    for (const p of patch) if (!result.some((o) => deepEqual(o, p))) result.push(clone(p));
    return result;
  }
  const serverOrder: Json[] = original.map((o) => (isObject(o) ? (o[key] ?? null) : null));
  for (const p of patch) {
    if (!isObject(p)) throw new PatchError('bad', `unable to merge list: item ${JSON.stringify(p)} is not a map with merge key ${JSON.stringify(key)}`);
    if (!Object.hasOwn(p, key)) throw new PatchError('bad', `map: ${JSON.stringify(p)} does not contain declared merge key: ${key}`);
    const kv = p[key];
    if (p[DIRECTIVE] === 'delete') {
      for (let i = result.length - 1; i >= 0; i--) {
        const o = result[i];
        if (isObject(o) && deepEqual(o[key], kv)) result.splice(i, 1);
      }
      continue;
    }
    const item = { ...p };
    if (item[DIRECTIVE] === 'merge') delete item[DIRECTIVE];
    const idx = result.findIndex((o) => isObject(o) && deepEqual(o[key], kv));
    if (idx >= 0) result[idx] = mergeMap(result[idx] as JsonObject, item, schema.items);
    else result.push(mergeMap({}, item, schema.items));
  }
  return patchOrder(result, patch, serverOrder, key);
}

/**
 * The order the API server gives a merged list (strategicpatch normalizeElementOrder): the items
 * the patch names, in patch order, interleaved with the others in their server order; an item
 * new to the list goes before the server's items it is compared with. So a condition added by a
 * patch lands first, and one changed in place keeps its position.
 */
function patchOrder(merged: Json[], patch: Json[], serverOrder: Json[], key: string): Json[] {
  const keyOf = (x: Json): Json => (isObject(x) ? (x[key] ?? null) : null);
  const named = patch.filter((p) => !(isObject(p) && p[DIRECTIVE] === 'delete')).map(keyOf);
  const at = (x: Json) => serverOrder.findIndex((k) => deepEqual(k, keyOf(x)));
  const right: Json[] = [];
  for (const k of named) {
    const item = merged.find((x) => deepEqual(keyOf(x), k));
    if (item !== undefined && !right.includes(item)) right.push(item);
  }
  const left = merged.filter((x) => !right.includes(x));
  const out: Json[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (j >= right.length) out.push(left[i++]!);
    else if (i >= left.length) out.push(right[j++]!);
    else {
      const li = at(left[i]!);
      const ri = at(right[j]!);
      if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++]!);
      else out.push(right[j++]!);
    }
  }
  return out;
}

function stripDirectives(o: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(o)) if (!k.startsWith('$')) setOwn(out, k, clone(v));
  return out;
}

function applyOrder(list: Json[], order: Json[], mergeKey: string | undefined): Json[] {
  const identity = (x: Json): Json => (mergeKey !== undefined && isObject(x) ? (x[mergeKey] ?? null) : x);
  const wanted = order.map(identity);
  const listed: Json[] = [];
  for (const w of wanted) {
    const found = list.find((x) => deepEqual(identity(x), w));
    if (found !== undefined) listed.push(found);
  }
  const rest = list.filter((x) => !wanted.some((w) => deepEqual(identity(x), w)));
  return [...listed, ...rest];
}
