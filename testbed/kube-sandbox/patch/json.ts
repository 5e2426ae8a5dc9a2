/**
 * JSON patch, RFC 6902 (`application/json-patch+json`): add, remove, replace, move, copy, test over
 * RFC 6901 pointers (`~1` is `/`, `~0` is `~`). Atomic: on any failing operation nothing is applied.
 */
import { PatchError } from './errors.ts';
import { clone, deepEqual, isObject, type Json, type JsonObject } from '../types.ts';
import { setOwn } from './own.ts';

export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: Json;
}

/** RFC 6901 pointer → reference tokens. Throws for a pointer that is not "" and does not start with "/". */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError('apply', `JSON pointer must be empty or start with a "/": ${JSON.stringify(pointer)}`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => {
      if (/~[^01]|~$/.test(t)) throw new PatchError('apply', `invalid JSON pointer escape in ${JSON.stringify(pointer)}`);
      return t.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

export function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

type Container = JsonObject | Json[];

function arrayIndex(token: string, length: number, allowEnd: boolean, path: string): number {
  if (allowEnd && token === '-') return length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new PatchError('apply', `invalid array index ${JSON.stringify(token)} in ${path}`);
  const i = Number(token);
  if (i > length || (!allowEnd && i === length)) throw new PatchError('apply', `array index ${i} out of bounds in ${path}`);
  return i;
}

/** The parent container and last token of `path`; throws when the parent is missing. */
function resolveParent(doc: Json, tokens: string[], op: string, path: string): { parent: Container; key: string } {
  let cur: Json = doc;
  for (let i = 0; i < tokens.length - 1; i++) {
    const t = tokens[i]!;
    if (Array.isArray(cur)) {
      const idx = arrayIndex(t, cur.length, false, path);
      cur = cur[idx]!;
    } else if (isObject(cur) && Object.hasOwn(cur, t)) {
      cur = cur[t]!;
    } else {
      throw new PatchError('apply', `${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}: missing value`);
    }
  }
  if (!Array.isArray(cur) && !isObject(cur)) {
    throw new PatchError('apply', `${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}: missing value`);
  }
  return { parent: cur, key: tokens[tokens.length - 1]! };
}

function getValue(doc: Json, path: string, op: string): Json {
  const tokens = parsePointer(path);
  let cur: Json = doc;
  for (const t of tokens) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(t, cur.length, false, path)]!;
    else if (isObject(cur) && Object.hasOwn(cur, t)) cur = cur[t]!;
    else throw new PatchError('apply', `${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}: missing value`);
  }
  return cur;
}

function add(doc: Json, path: string, value: Json, op = 'add'): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return value;
  const { parent, key } = resolveParent(doc, tokens, op, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(key, parent.length, true, path), 0, value);
  else setOwn(parent, key, value);
  return doc;
}

function remove(doc: Json, path: string, op = 'remove'): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) throw new PatchError('apply', `${op} operation does not apply: cannot remove the document root`);
  const { parent, key } = resolveParent(doc, tokens, op, path);
  if (Array.isArray(parent)) {
    parent.splice(arrayIndex(key, parent.length, false, path), 1);
  } else {
    if (!Object.hasOwn(parent, key)) throw new PatchError('apply', `${op} operation does not apply: doc is missing key: ${path}: missing value`);
    delete parent[key];
  }
  return doc;
}

function replace(doc: Json, path: string, value: Json): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return value;
  const { parent, key } = resolveParent(doc, tokens, 'replace', path);
  if (Array.isArray(parent)) {
    parent[arrayIndex(key, parent.length, false, path)] = value;
  } else {
    if (!Object.hasOwn(parent, key)) throw new PatchError('apply', `replace operation does not apply: doc is missing key: ${path}: missing value`);
    setOwn(parent, key, value);
  }
  return doc;
}

/** Validates the shape of a patch document (400 when malformed). */
export function decodeJsonPatch(patch: unknown): JsonPatchOperation[] {
  if (!Array.isArray(patch)) throw new PatchError('bad', 'json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  return patch.map((raw, i) => {
    if (!isObject(raw)) throw new PatchError('bad', `json: cannot unmarshal ${typeof raw} into Go value of type jsonpatch.Operation (operation ${i})`);
    return raw as unknown as JsonPatchOperation;
  });
}

/** Applies every operation to a copy of `doc`; throws PatchError('apply') and changes nothing on failure. */
export function applyJsonPatch<T extends Json>(doc: T, patch: unknown): T {
  const ops = decodeJsonPatch(patch);
  let out: Json = clone(doc);
  for (const o of ops) {
    if (typeof o.path !== 'string') throw new PatchError('apply', `${String(o.op)} operation does not apply: missing path`);
    const needsValue = o.op === 'add' || o.op === 'replace' || o.op === 'test';
    if (needsValue && !Object.hasOwn(o, 'value')) throw new PatchError('apply', `${o.op} operation does not apply: missing value`);
    switch (o.op) {
      case 'add':
        out = add(out, o.path, clone(o.value as Json));
        break;
      case 'remove':
        out = remove(out, o.path);
        break;
      case 'replace':
        out = replace(out, o.path, clone(o.value as Json));
        break;
      case 'move': {
        if (typeof o.from !== 'string') throw new PatchError('apply', 'move operation does not apply: missing from');
        if (o.path !== o.from && o.path.startsWith(`${o.from}/`)) {
          throw new PatchError('apply', `move operation does not apply: from ${JSON.stringify(o.from)} is a prefix of path ${JSON.stringify(o.path)}`);
        }
        const v = getValue(out, o.from, 'move');
        out = remove(out, o.from, 'move');
        out = add(out, o.path, v, 'move');
        break;
      }
      case 'copy': {
        if (typeof o.from !== 'string') throw new PatchError('apply', 'copy operation does not apply: missing from');
        out = add(out, o.path, clone(getValue(out, o.from, 'copy')), 'copy');
        break;
      }
      case 'test': {
        let actual: Json | undefined;
        try {
          actual = getValue(out, o.path, 'test');
        } catch {
          actual = undefined;
        }
        if (actual === undefined || !deepEqual(actual, o.value)) throw new PatchError('apply', `testing value ${o.path} failed: test failed`);
        break;
      }
      default:
        throw new PatchError('apply', `Unexpected kind: ${String((o as { op: unknown }).op)}`);
    }
  }
  return out as T;
}
