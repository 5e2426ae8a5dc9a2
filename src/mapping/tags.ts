import { Buffer } from 'node:buffer';
import type { Compute, Tag } from '../imds/document.ts';
import type { SkipReason, SkippedTag } from './desired.ts';
import { foldCase, tagNameFilter } from './glob.ts';
import { labelNameProblem, labelValueProblem } from '../keys/names.ts';

/**
 * VM tags → labels `<tagPrefix>/<name>` and the tags annotation.
 *
 * A tag becomes a label only when its name and value are valid as they are. Nothing is
 * sanitized: "team name" is not turned into "team-name", because a label that means something
 * the tag does not is worse than no label. Every tag that passes the include/exclude filter is
 * in the tags annotation, whether or not it became a label.
 */

/** Where the tags came from: `tagsList` (2019-06-04 and later) or the legacy `tags` string. */
export type TagSource = 'tagsList' | 'tags' | 'none';

export interface DocumentTags {
  tags: Tag[];
  source: TagSource;
  /** The IMDS field, for diagnostics: "compute.tagsList" or "compute.tags". */
  field: string;
}

/** The VM's tags: `tagsList` whenever IMDS sent it (even empty), else the legacy string. */
export function readTags(compute: Compute): DocumentTags {
  if (compute.tagsList !== undefined) return { tags: compute.tagsList.map(({ name, value }) => ({ name, value })), source: 'tagsList', field: 'compute.tagsList' };
  if (compute.tags !== undefined) return { tags: parseLegacyTags(compute.tags), source: 'tags', field: 'compute.tags' };
  return { tags: [], source: 'none', field: 'compute.tagsList' };
}

/**
 * Best-effort parse of the legacy `"k1:v1;k2:v2"` string: split on ";", then on the first ":".
 * A segment without ":" is a tag with an empty value; empty segments are dropped. The format
 * cannot carry ";" in a name or value, nor ":" in a name: such tags come out split wrongly,
 * which is why `tagsList` wins whenever IMDS sends it.
 */
export function parseLegacyTags(text: string): Tag[] {
  const tags: Tag[] = [];
  for (const segment of text.split(';')) {
    if (segment === '') continue;
    const colon = segment.indexOf(':');
    tags.push(colon < 0 ? { name: segment, value: '' } : { name: segment.slice(0, colon), value: segment.slice(colon + 1) });
  }
  return tags;
}

export interface TagMappingOptions {
  tagPrefix: string;
  include: readonly string[];
  exclude: readonly string[];
  /** Label keys used for IMDS fields: a tag mapping to one of them is skipped as reserved-name. */
  reservedKeys?: ReadonlySet<string>;
}

export interface TagMapping {
  /** `<tagPrefix>/<name>` → value, for the tags that are valid labels. */
  labels: Record<string, string>;
  /** The tags that passed the filter, sorted by name then value: the annotation's content. */
  kept: Tag[];
  /** Sorted by tag name, then reason. */
  skipped: SkippedTag[];
}

/** Code-unit order: the same on every machine and locale. */
export const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const compareTags = (a: Tag, b: Tag) => compareText(a.name, b.name) || compareText(a.value, b.value);

/**
 * Filters tags and turns the valid ones into labels. Each tag gets at most one skip reason, the
 * first of: excluded, invalid-name / name-too-long, reserved-name, duplicate-name,
 * invalid-value / value-too-long.
 *
 * Duplicates: Azure compares tag names ignoring case, so two tags whose names fold to the same
 * text (`Env` and `ENV`, or `env` twice from a malformed legacy string) are one tag with two
 * values. Picking one would depend on the order IMDS lists them in, so none of them becomes a
 * label; all are reported as duplicate-name and all stay in the annotation.
 */
export function mapTags(tags: readonly Tag[], options: TagMappingOptions): TagMapping {
  const passes = tagNameFilter(options.include, options.exclude);
  const skipped: SkippedTag[] = [];
  const kept: Tag[] = [];
  for (const tag of tags) {
    if (passes(tag.name)) kept.push(tag);
    else skipped.push({ tag: tag.name, reason: 'excluded' });
  }

  const sameName = new Map<string, number>();
  for (const { name } of kept) sameName.set(foldCase(name), (sameName.get(foldCase(name)) ?? 0) + 1);

  const labels: Record<string, string> = {};
  for (const tag of [...kept].sort(compareTags)) {
    const key = `${options.tagPrefix}/${tag.name}`;
    const reason = skipReason(tag, key, (sameName.get(foldCase(tag.name)) ?? 0) > 1, options.reservedKeys);
    if (reason) skipped.push({ tag: tag.name, reason });
    else labels[key] = tag.value;
  }

  return {
    labels,
    kept: kept.sort(compareTags),
    skipped: skipped.sort((a, b) => compareText(a.tag, b.tag) || compareText(a.reason, b.reason)),
  };
}

function skipReason(tag: Tag, key: string, duplicate: boolean, reserved: ReadonlySet<string> | undefined): SkipReason | undefined {
  const name = labelNameProblem(tag.name);
  if (name) return name === 'too-long' ? 'name-too-long' : 'invalid-name';
  if (reserved?.has(key)) return 'reserved-name';
  if (duplicate) return 'duplicate-name';
  const value = labelValueProblem(tag.value);
  if (value) return value === 'too-long' ? 'value-too-long' : 'invalid-value';
  return undefined;
}

/**
 * The annotation keeps every tag, so it is capped well under Kubernetes' 256 KiB limit on all
 * of a node's annotations together: 64 KiB of UTF-8 for this one. Azure's own limits (50 tags,
 * names of 512 and values of 256 characters) stay under it for all but exotic tag sets.
 */
export const TAGS_ANNOTATION_MAX_BYTES = 64 * 1024;

export interface TagsAnnotation {
  /** Compact JSON `[{"name":..,"value":..}]`, in the order of `kept` (sorted by name). */
  value: string;
  /** Tags left out to stay within the cap. */
  omitted: Tag[];
}

/**
 * Serializes the kept tags, within `maxBytes` of UTF-8. When they do not all fit, tags are taken
 * in order and each one that would pass the cap is left out (later, smaller ones may still fit):
 * the result depends only on the tags, never on the order IMDS listed them in.
 */
export function tagsAnnotation(kept: readonly Tag[], maxBytes: number = TAGS_ANNOTATION_MAX_BYTES): TagsAnnotation {
  const entries: string[] = [];
  const omitted: Tag[] = [];
  let bytes = 2; // "[" and "]"
  for (const { name, value } of kept) {
    const entry = JSON.stringify({ name, value });
    const size = Buffer.byteLength(entry, 'utf8') + (entries.length > 0 ? 1 : 0);
    if (bytes + size > maxBytes) {
      omitted.push({ name, value });
      continue;
    }
    entries.push(entry);
    bytes += size;
  }
  return { value: `[${entries.join(',')}]`, omitted };
}
