/**
 * Field order as kube-apiserver writes objects: TypeMeta first, ObjectMeta in Go struct order, and
 * map-typed fields (labels, annotations, resource lists) with sorted keys, as Go's encoding/json
 * sorts map keys. Only cosmetic, but it makes raw responses diff cleanly against a real server's.
 */
import { isObject, type JsonObject, type KubeObject } from './types.ts';

const META_ORDER = [
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
];

const sortedMap = (m: JsonObject): JsonObject => Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

function ordered(o: JsonObject, first: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const k of first) if (Object.hasOwn(o, k)) out[k] = o[k]!;
  for (const [k, v] of Object.entries(o)) if (!Object.hasOwn(out, k)) out[k] = v;
  return out;
}

export function canonical(obj: KubeObject): KubeObject {
  const out = ordered(obj, ['kind', 'apiVersion', 'metadata']);
  if (isObject(out.metadata)) {
    const meta = ordered(out.metadata, META_ORDER);
    for (const f of ['labels', 'annotations']) if (isObject(meta[f])) meta[f] = sortedMap(meta[f] as JsonObject);
    out.metadata = meta;
  }
  if (isObject(out.status)) {
    const status = { ...out.status };
    for (const f of ['capacity', 'allocatable']) if (isObject(status[f])) status[f] = sortedMap(status[f] as JsonObject);
    out.status = status;
  }
  return out;
}
