/**
 * Object-meta validation with apiserver's messages (k8s.io/apimachinery/pkg/util/validation): label keys
 * and values, annotation keys and total size, DNS-subdomain names. The sandbox must refuse whatever a
 * real apiserver refuses, so a label the agent computes wrongly fails here as it would in a cluster.
 * The name rules themselves are the agent's (src/keys/names.ts), which carry apiserver's messages: one
 * home, so the stand-in cannot accept a key the agent's own check would refuse, or the reverse.
 */
import { validateDnsSubdomain, validateLabelValue, validateQualifiedName } from '../../src/keys/names.ts';
import type { FieldError } from './status.ts';
import { isObject, type Json, type JsonObject } from './types.ts';

export const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

export function validateLabels(labels: Record<string, string>, field = 'metadata.labels'): FieldError[] {
  const errs: FieldError[] = [];
  for (const k of Object.keys(labels).sort()) {
    for (const detail of validateQualifiedName(k)) errs.push({ type: 'FieldValueInvalid', field, value: k, detail });
    for (const detail of validateLabelValue(labels[k]!)) errs.push({ type: 'FieldValueInvalid', field, value: labels[k], detail });
  }
  return errs;
}

export function validateAnnotations(annotations: Record<string, string>, field = 'metadata.annotations'): FieldError[] {
  const errs: FieldError[] = [];
  let total = 0;
  for (const k of Object.keys(annotations).sort()) {
    for (const detail of validateQualifiedName(k.toLowerCase())) errs.push({ type: 'FieldValueInvalid', field, value: k, detail });
    total += Buffer.byteLength(k) + Buffer.byteLength(annotations[k]!);
  }
  if (total > TOTAL_ANNOTATION_SIZE_LIMIT) errs.push({ type: 'FieldValueTooLong', field, detail: `must have at most ${TOTAL_ANNOTATION_SIZE_LIMIT} bytes` });
  return errs;
}

/** A string→string map, or the decode error apiserver would give (as a 400). */
export function stringMapError(value: Json | undefined, goField: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) return `json: cannot unmarshal ${jsonKind(value)} into Go struct field ${goField} of type map[string]string`;
  for (const v of Object.values(value)) {
    if (typeof v !== 'string' && v !== null) return `json: cannot unmarshal ${jsonKind(v)} into Go struct field ${goField} of type string`;
  }
  return undefined;
}

function jsonKind(v: Json): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'object';
  return typeof v;
}

/** ObjectMeta checks shared by every resource: name (or generateName), labels, annotations. */
export function validateObjectMeta(meta: JsonObject, opts: { namespaced: boolean }): FieldError[] {
  const errs: FieldError[] = [];
  const name = meta.name;
  if (typeof name !== 'string' || name === '') {
    if (typeof meta.generateName !== 'string' || meta.generateName === '') {
      errs.push({ type: 'FieldValueRequired', field: 'metadata.name', detail: 'name or generateName is required' });
    }
  } else {
    for (const detail of validateDnsSubdomain(name)) errs.push({ type: 'FieldValueInvalid', field: 'metadata.name', value: name, detail });
  }
  if (opts.namespaced) {
    const ns = meta.namespace;
    if (typeof ns !== 'string' || ns === '') errs.push({ type: 'FieldValueRequired', field: 'metadata.namespace', detail: '' });
  } else if (typeof meta.namespace === 'string' && meta.namespace !== '') {
    errs.push({ type: 'FieldValueForbidden', field: 'metadata.namespace', detail: 'not allowed on this type' });
  }
  if (isObject(meta.labels)) errs.push(...validateLabels(meta.labels as Record<string, string>));
  if (isObject(meta.annotations)) errs.push(...validateAnnotations(meta.annotations as Record<string, string>));
  return errs;
}
