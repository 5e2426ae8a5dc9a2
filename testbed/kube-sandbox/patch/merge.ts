/**
 * JSON merge patch, RFC 7386 (`application/merge-patch+json`): objects merge recursively, `null`
 * deletes a member, anything else (arrays included) replaces. Pure: inputs are not modified.
 */
import { PatchError } from './errors.ts';
import { clone, isObject, type Json, type JsonObject } from '../types.ts';
import { setOwn } from './own.ts';

export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else setOwn(out, k, mergePatch(out[k], v));
  }
  return out;
}

/** The patch body as apiserver requires it for a merge patch on an object: a JSON object. */
export function applyMergePatch(target: JsonObject, patch: unknown): JsonObject {
  if (!isObject(patch)) throw new PatchError('bad', 'error decoding patch: json: cannot unmarshal into Go value of type map[string]interface {}');
  return mergePatch(target, patch) as JsonObject;
}
