/**
 * Object-meta validation with apiserver's messages (k8s.io/apimachinery/pkg/util/validation): label keys
 * and values, annotation keys and total size, DNS-subdomain names. The sandbox must refuse whatever a
 * real apiserver refuses, so a label the agent computes wrongly fails here as it would in a cluster.
 */
import type { FieldError } from './status.ts';
import { isObject, type Json, type JsonObject } from './types.ts';

const QUALIFIED_NAME_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const QUALIFIED_NAME_RE = new RegExp(`^${QUALIFIED_NAME_FMT}$`);
const QUALIFIED_NAME_ERR = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_MAX = 63;

const LABEL_VALUE_FMT = `(${QUALIFIED_NAME_FMT})?`;
const LABEL_VALUE_RE = new RegExp(`^${LABEL_VALUE_FMT}$`);
const LABEL_VALUE_ERR = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_MAX = 63;

const DNS1123_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN_FMT = `${DNS1123_LABEL_FMT}(\\.${DNS1123_LABEL_FMT})*`;
const DNS1123_SUBDOMAIN_RE = new RegExp(`^${DNS1123_SUBDOMAIN_FMT}$`);
const DNS1123_SUBDOMAIN_ERR =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_MAX = 253;

export const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

/** apimachinery's RegexError: `msg (e.g. 'a',  or 'b', regex used for validation is '...')`. */
function regexError(msg: string, fmt: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${fmt}')`;
  let out = `${msg} (e.g. `;
  examples.forEach((e, i) => {
    if (i > 0) out += ' or ';
    out += `'${e}', `;
  });
  return `${out}regex used for validation is '${fmt}')`;
}

const maxLenError = (n: number): string => `must be no more than ${n} characters`;
const EMPTY_ERROR = 'must be non-empty';

/** Problems with a DNS-1123 subdomain (empty list: valid). */
export function isDns1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (value.length > DNS1123_SUBDOMAIN_MAX) errs.push(maxLenError(DNS1123_SUBDOMAIN_MAX));
  if (!DNS1123_SUBDOMAIN_RE.test(value)) errs.push(regexError(DNS1123_SUBDOMAIN_ERR, DNS1123_SUBDOMAIN_FMT, 'example.com'));
  return errs;
}

/** Problems with a qualified name (`prefix/name` or `name`), as IsQualifiedName reports them. */
export function isQualifiedName(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0]!;
  } else if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) errs.push(`prefix part ${EMPTY_ERROR}`);
    else for (const m of isDns1123Subdomain(prefix)) errs.push(`prefix part ${m}`);
  } else {
    return [
      `a qualified name ${regexError(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, 'MyName', 'my.name', '123-abc')} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ];
  }
  if (name.length === 0) errs.push(`name part ${EMPTY_ERROR}`);
  else if (name.length > QUALIFIED_NAME_MAX) errs.push(`name part ${maxLenError(QUALIFIED_NAME_MAX)}`);
  if (name.length > 0 && !QUALIFIED_NAME_RE.test(name)) errs.push(`name part ${regexError(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, 'MyName', 'my.name', '123-abc')}`);
  return errs;
}

/** Problems with a label value (empty list: valid). */
export function isValidLabelValue(value: string): string[] {
  const errs: string[] = [];
  if (value.length > LABEL_VALUE_MAX) errs.push(maxLenError(LABEL_VALUE_MAX));
  if (!LABEL_VALUE_RE.test(value)) errs.push(regexError(LABEL_VALUE_ERR, LABEL_VALUE_FMT, 'MyValue', 'my_value', '12345'));
  return errs;
}

export const isValidLabelKey = (key: string): boolean => isQualifiedName(key).length === 0;

export function validateLabels(labels: Record<string, string>, field = 'metadata.labels'): FieldError[] {
  const errs: FieldError[] = [];
  for (const k of Object.keys(labels).sort()) {
    for (const detail of isQualifiedName(k)) errs.push({ type: 'FieldValueInvalid', field, value: k, detail });
    for (const detail of isValidLabelValue(labels[k]!)) errs.push({ type: 'FieldValueInvalid', field, value: labels[k], detail });
  }
  return errs;
}

export function validateAnnotations(annotations: Record<string, string>, field = 'metadata.annotations'): FieldError[] {
  const errs: FieldError[] = [];
  let total = 0;
  for (const k of Object.keys(annotations).sort()) {
    for (const detail of isQualifiedName(k.toLowerCase())) errs.push({ type: 'FieldValueInvalid', field, value: k, detail });
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
    for (const detail of isDns1123Subdomain(name)) errs.push({ type: 'FieldValueInvalid', field: 'metadata.name', value: name, detail });
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
