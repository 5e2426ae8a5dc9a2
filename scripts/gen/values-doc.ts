import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isNode, isScalar, parseDocument, type Pair, type YAMLMap } from 'yaml';
import type { GeneratedFile } from '../generated.ts';
import { CHART_DIR } from '../helm.ts';

/**
 * docs/values.md: every value of the chart, from the "# --" comments in values.yaml (the
 * description), the values themselves (the default) and values.schema.json (the type).
 * A value without a "# --" comment, or one the schema does not know, fails the generator.
 */
export interface ValueDoc {
  key: string;
  type: string;
  default: unknown;
  description: string;
}

interface Schema {
  type?: string | string[];
  enum?: unknown[];
  $ref?: string;
  anyOf?: Schema[];
  allOf?: Schema[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  definitions?: Record<string, Schema>;
}

const MARK = /^\s*-- ?/;

/** The "-- ..." part of a comment, joined into one paragraph; undefined when there is none. */
function description(comment: string | null | undefined): string | undefined {
  if (!comment) return undefined;
  const lines = comment.split('\n');
  const start = lines.findIndex((line) => MARK.test(line));
  if (start < 0) return undefined;
  return lines
    .slice(start)
    .map((line, i) => (i === 0 ? line.replace(MARK, '') : line).trim())
    .join(' ')
    .trim();
}

/**
 * The $ref of a schema that is one: a bare $ref, or draft-07's way of giving a $ref a description
 * (an allOf of one $ref, as the generated config part writes it).
 */
function refOf(schema: Schema): string | undefined {
  if (schema.$ref) return schema.$ref;
  if (schema.allOf?.length === 1 && schema.type === undefined) return schema.allOf[0]!.$ref;
  return undefined;
}

/** Follows $ref into the definitions (the schema puts nothing beside a $ref but a description). */
function resolve(schema: Schema, root: Schema): Schema {
  let s = schema;
  for (let ref = refOf(s); ref; ref = refOf(s)) {
    const target = root.definitions?.[ref.replace('#/definitions/', '')];
    if (!target) throw new Error(`values.schema.json: unresolved ${ref}`);
    s = target;
  }
  return s;
}

/** Names for the shared definitions, more telling than their JSON type. */
const NAMED: Record<string, string> = {
  duration: 'duration',
  promDuration: 'duration',
  labelPrefix: 'DNS subdomain',
  cidr: 'CIDR',
  port: 'port',
  quantity: 'quantity',
  stringMap: 'map of strings',
};

function typeName(schema: Schema, root: Schema): string {
  const ref = refOf(schema);
  const named = ref ? NAMED[ref.replace('#/definitions/', '')] : undefined;
  if (named) return named;
  const s = resolve(schema, root);
  if (s.anyOf) return [...new Set(s.anyOf.map((alt) => typeName(alt, root)))].join(' or ');
  const base = [s.type ?? 'any'].flat().join(' or ');
  if (base === 'array' && s.items) {
    const items = resolve(s.items, root);
    return items.enum ? `list of ${items.enum.map((v) => JSON.stringify(v)).join(', ')}` : `list of ${typeName(s.items, root)}`;
  }
  if (s.enum) return `${base}: ${s.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  return base;
}

function child(schema: Schema | undefined, key: string, root: Schema, path: string): Schema {
  const s = schema ? resolve(schema, root) : undefined;
  const next = s?.properties?.[key] ?? (typeof s?.additionalProperties === 'object' ? s.additionalProperties : undefined);
  if (!next) throw new Error(`values.schema.json does not describe ${path}`);
  return next;
}

/** Every documented value of values.yaml, in file order. */
export function valueDocs(): ValueDoc[] {
  const root = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as Schema;
  const doc = parseDocument(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8'));
  const out: ValueDoc[] = [];
  const walk = (map: YAMLMap, schema: Schema, prefix: string) => {
    map.items.forEach((pair: Pair, index) => {
      if (!isScalar(pair.key)) throw new Error(`values.yaml: a key under ${prefix || 'the top'} is not a scalar`);
      const key = `${prefix}${String(pair.key.value)}`;
      const keySchema = child(schema, String(pair.key.value), root, key);
      // The yaml library attaches the comment of a map's first key to the map itself.
      const text = description(pair.key.commentBefore) ?? (index === 0 ? description(map.commentBefore) : undefined);
      if (text !== undefined) {
        const value = isNode(pair.value) ? (pair.value.toJSON() as unknown) : pair.value;
        out.push({ key, type: typeName(keySchema, root), default: value, description: text });
      } else if (isMap(pair.value)) {
        walk(pair.value, keySchema, `${key}.`);
      } else {
        throw new Error(`values.yaml: ${key} has no "# --" description`);
      }
    });
  };
  if (!isMap(doc.contents)) throw new Error('values.yaml is not a map');
  walk(doc.contents, root, '');
  return out;
}

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The values table, shared by docs/values.md and the chart's README (`helm show readme`). */
export function valuesTable(): string[] {
  const rows = valueDocs().map(
    (v) => `| \`${v.key}\` | ${cell(v.type)} | \`${cell(JSON.stringify(v.default))}\` | ${cell(v.description)} |`,
  );
  return ['| Key | Type | Default | Description |', '| --- | --- | --- | --- |', ...rows];
}

export function renderValuesDoc(): string {
  return [
    '# Chart values',
    '',
    '<!-- Generated from charts/imds-labeler/values.yaml and values.schema.json by scripts/gen/values-doc.ts (npm run generate); do not edit. -->',
    '',
    'Every value of the `imds-labeler` chart. `values.schema.json` checks them on `helm install`,',
    '`helm upgrade` and `helm template`: an unknown key or a wrong value is refused with the path',
    'of the offending key. The `config.*` values are the agent\'s configuration file, one to one.',
    '',
    ...valuesTable(),
    '',
  ].join('\n');
}

const file: GeneratedFile = { path: 'docs/values.md', render: renderValuesDoc };
export default file;
