import type { Config } from '../config/schema.ts';
import type { InstanceDocument } from '../imds/document.ts';
import type { Desired, Problem } from './desired.ts';
import { keyProblems, prefixesOf, type Prefixes } from '../keys/keys.ts';
import { labelValueProblem, LABEL_VALUE_MAX_LENGTH } from '../keys/names.ts';
import { FIELD_LABELS, TAGS_ANNOTATION, TAGS_OMITTED_ANNOTATION, resolveKey, type Gate } from './reference.ts';
import { compareText, mapTags, readTags, tagsAnnotation, TAGS_ANNOTATION_MAX_BYTES } from './tags.ts';

/**
 * IMDS instance document → the labels and annotations the node should carry. Pure: no I/O, no
 * clock, and the same document and config always give the same result, whatever order IMDS
 * lists tags in. Keys and values come from the table in reference.ts.
 */

export type LabelsConfig = Config['labels'];

export interface RenderOptions {
  /** Cap of the tags annotation in bytes of UTF-8 (default TAGS_ANNOTATION_MAX_BYTES). */
  tagsAnnotationMaxBytes?: number;
}

export function render(doc: InstanceDocument, labels: LabelsConfig, options: RenderOptions = {}): Desired {
  const prefixes = checkedPrefixes(labels);
  const on = (gate: Gate) => gate === 'always' || (gate === 'wellKnown' ? labels.wellKnown : labels.extras.includes(gate));
  const out: Record<string, string> = {};
  const annotations: Record<string, string> = {};
  const problems: Problem[] = [];

  const unknownLabels: string[] = [];
  for (const entry of FIELD_LABELS) {
    if (!on(entry.gate)) continue;
    const key = resolveKey(entry.key, prefixes);
    // An api-version older than the field: absent because the version predates it, not because
    // the VM has none. ISO dates compare as strings.
    if (doc.apiVersion !== undefined && doc.apiVersion < entry.since) {
      unknownLabels.push(key);
      continue;
    }
    const value = entry.value(doc.compute);
    if (value === undefined) continue;
    const problem = labelValueProblem(value);
    if (problem === undefined) out[key] = value;
    else {
      const why = problem === 'too-long' ? `is longer than ${LABEL_VALUE_MAX_LENGTH} characters` : 'is not a valid label value';
      problems.push({ key, field: entry.source, reason: problem === 'too-long' ? 'value-too-long' : 'invalid-value', message: `${key} left out: ${quote(value)} (from ${entry.source}) ${why}` });
    }
  }

  const { tags, field } = readTags(doc.compute);
  const reservedKeys = new Set(FIELD_LABELS.map((e) => resolveKey(e.key, prefixes)));
  const mapped = mapTags(tags, { tagPrefix: prefixes.tagPrefix, include: labels.tags.include, exclude: labels.tags.exclude, reservedKeys });
  Object.assign(out, mapped.labels);

  if (mapped.kept.length > 0) {
    const maxBytes = options.tagsAnnotationMaxBytes ?? TAGS_ANNOTATION_MAX_BYTES;
    const tagsKey = resolveKey(TAGS_ANNOTATION, prefixes);
    const annotation = tagsAnnotation(mapped.kept, maxBytes);
    annotations[tagsKey] = annotation.value;
    if (annotation.omitted.length > 0) {
      annotations[resolveKey(TAGS_OMITTED_ANNOTATION, prefixes)] = String(annotation.omitted.length);
      const names = annotation.omitted.map((t) => quote(t.name));
      problems.push({
        key: tagsKey,
        field,
        reason: 'annotation-too-large',
        message: `${annotation.omitted.length} of ${mapped.kept.length} tags left out of ${tagsKey} to keep it under ${maxBytes} bytes: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', ...' : ''}`,
      });
    }
  }

  return {
    labels: sortedRecord(out),
    annotations: sortedRecord(annotations),
    skipped: mapped.skipped,
    problems: problems.sort((a, b) => compareText(a.key, b.key)),
    ...(unknownLabels.length ? { unknownLabels: unknownLabels.sort(compareText) } : {}),
  };
}

/** The prefixes, with tagPrefix defaulted as the config schema does. Throws on an invalid one. */
function checkedPrefixes(labels: Pick<LabelsConfig, 'prefix' | 'tagPrefix'>): Prefixes {
  const [problem] = keyProblems(labels);
  if (problem) throw new TypeError(`labels.${problem.field} ${problem.message}: pass a config parsed by the config schema`);
  return prefixesOf(labels);
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => compareText(a, b)));
}

/** A value for a one-line message: JSON-quoted, so spaces and control characters show, and cut at 80. */
function quote(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
}
