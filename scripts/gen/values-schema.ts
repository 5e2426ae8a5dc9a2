import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { stringify } from 'yaml';
import { configSchema, JSON_SCHEMA_DEFINITIONS, jsonSchemaForms, rangeSentence, type JsonSchema } from '../../src/config/schema.ts';
import type { GeneratedFile } from '../generated.ts';
import { CHART_DIR } from '../helm.ts';

/**
 * The chart's `config` values come from the agent's config schema (src/config/schema.ts): the
 * `config` part of values.schema.json (with the definitions it refers to) and the `config` block
 * of values.yaml (defaults and "# --" descriptions, which docs/values.md and the chart's README
 * are made of). The rest of both files is the chart's own and stays as written: the generator
 * reads each file and replaces only its part.
 */

const SCHEMA_FILE = 'charts/imds-labeler/values.schema.json';
const VALUES_FILE = 'charts/imds-labeler/values.yaml';

/** The agent's config file as JSON Schema (draft-07, as the chart's file is), defaults included. */
export function configJsonSchema(): JsonSchema {
  const applied = new Set<unknown>();
  const schema = z.toJSONSchema(configSchema, {
    target: 'draft-07',
    io: 'input',
    override: ({ zodSchema, jsonSchema }) => {
      const form = jsonSchemaForms.get(zodSchema as unknown as z.ZodMiniType);
      if (!form) return;
      applied.add(zodSchema);
      const json = jsonSchema as JsonSchema;
      if (form.replace) {
        const { description, default: fallback } = json;
        for (const key of Object.keys(json)) delete json[key];
        Object.assign(json, { description, default: fallback }, structuredClone(form.replace));
      }
      if (form.add) Object.assign(json, structuredClone(form.add));
    },
  }) as JsonSchema;
  // A form registered on an inner part, not on the one that sits in its object, is never seen.
  const missed = [...jsonSchemaForms.keys()].filter((s) => !applied.has(s));
  if (missed.length) throw new Error(`${missed.length} JSON Schema form(s) of src/config/schema.ts were not applied: register them on the outermost part`);
  delete schema.$schema;
  return dropUndefined(schema);
}

/**
 * Where the chart narrows the agent's config, and why. Everything else is the agent's schema as
 * it is; a rule the chart cannot express either is the agent's to refuse when it starts.
 */
interface ChartRule {
  /** Left out of the chart's values: the chart sets it another way. */
  omit?: string;
  /** Keywords that narrow the agent's rule, with the reason. */
  narrow?: { keywords: JsonSchema; why: string };
  /** Appended to the agent's description. */
  note?: string;
  /** The value in values.yaml when the agent's schema has no default. */
  value?: unknown;
}

const CHART: Record<string, ChartRule> = {
  'kube.nodeName': { omit: 'the DaemonSet sets NODE_NAME to the pod\'s node' },
  'kube.kubeconfig': { omit: 'the agent uses its service account' },
  'kube.context': { omit: 'the agent uses its service account' },
  'kube.credentialTimeout': { omit: 'exec credential plugins come with kubeconfig files, which the chart does not use' },
  'labels.prefix': { note: 'The admission policy allows exactly this prefix.' },
  'labels.tagPrefix': { value: '' },
  'labels.wellKnown': { note: 'The admission policy allows these three keys only when this is on.' },
  'server.port': {
    narrow: { keywords: { minimum: 1 }, why: 'the probes, the Service and the monitors need a fixed port' },
    note: 'The chart needs a fixed port: 0 is refused. With hostNetwork the port is taken on every node.',
  },
};

const DURATION_REF = '#/definitions/duration';
const isDurationRef = (s: JsonSchema) => Array.isArray(s.allOf) && (s.allOf as JsonSchema[]).some((a) => a.$ref === DURATION_REF);

/** The `config` part of values.schema.json: the agent's schema, narrowed where CHART says. */
export function chartConfigSchema(): JsonSchema {
  const config = stripDefaults(configJsonSchema());
  for (const [path, rule] of Object.entries(CHART)) {
    const { parent, key } = locate(config, path);
    if (rule.omit) {
      delete parent.properties![key];
      continue;
    }
    const node = parent.properties![key]!;
    if (rule.narrow) Object.assign(node, rule.narrow.keywords, { $comment: `Narrower than the agent's config file: ${rule.narrow.why}.` });
    if (rule.note) node.description = `${String(node.description)} ${rule.note}`;
  }
  eachField(config, (node) => {
    // A bare number would be milliseconds, which a values file easily means as seconds.
    if (Array.isArray(node.anyOf) && (node.anyOf as JsonSchema[]).some(isDurationRef)) {
      node.allOf = [{ $ref: DURATION_REF }];
      delete node.anyOf;
    }
    const range = numberRange(node);
    if (range) node.description = `${String(node.description)} ${range}`;
  });
  const omitted = Object.keys(CHART).filter((k) => CHART[k]!.omit);
  return tidy({
    description: "The agent's configuration file (config.json), from the agent's own schema (src/config/schema.ts).",
    $comment: [
      'Generated by scripts/gen/values-schema.ts (npm run generate); edit src/config/schema.ts.',
      "Narrower than the agent's config file: durations are strings only (the file also takes a number of milliseconds, which a values file easily means as seconds).",
      `Left out: ${omitted.map((k) => `${k} (${CHART[k]!.omit})`).join(', ')}.`,
    ].join(' '),
    ...config,
  });
}

function numberRange(node: JsonSchema): string | undefined {
  if (node.type !== 'number' && node.type !== 'integer') return undefined;
  const num = (v: unknown) => (typeof v === 'number' && v < Number.MAX_SAFE_INTEGER ? String(v) : undefined);
  const exclusive = num(node.exclusiveMinimum);
  return rangeSentence(exclusive ?? num(node.minimum), num(node.maximum), exclusive !== undefined) || undefined;
}

/** Every leaf of the chart's config with its value in values.yaml: the agent's default, or CHART's. */
interface Leaf {
  path: string[];
  description: string;
  value: unknown;
}

function leaves(chart: JsonSchema, exact: JsonSchema, path: string[] = []): Leaf[] {
  return Object.entries(chart.properties as Record<string, JsonSchema>).flatMap(([key, node]) => {
    const exactNode = (exact.properties as Record<string, JsonSchema>)[key]!;
    const at = [...path, key];
    if (node.properties) return leaves(node, exactNode, at);
    const rule = CHART[at.join('.')];
    const value = rule && 'value' in rule ? rule.value : exactNode.default;
    if (value === undefined) throw new Error(`config.${at.join('.')} has no default in src/config/schema.ts: give it a value in CHART`);
    return [{ path: at, description: String(node.description), value }];
  });
}

const WIDTH = 100;

/** "# -- text" wrapped at WIDTH columns, as the hand-written comments of values.yaml are. */
function comment(text: string, indent: string): string[] {
  const lines: string[] = [];
  let line = `${indent}# --`;
  for (const word of text.split(/\s+/)) {
    if (line.length + 1 + word.length > WIDTH && line.trim() !== '#' && line.trim() !== '# --') {
      lines.push(line);
      line = `${indent}#`;
    }
    line += ` ${word}`;
  }
  return [...lines, line];
}

/** A value as values.yaml writes it: lists in flow style, strings quoted where YAML 1.1 would read them otherwise. */
const yamlValue = (value: unknown) => (Array.isArray(value) ? JSON.stringify(value) : stringify(value, { version: '1.1' }).trimEnd());

export function renderConfigBlock(): string {
  const chart = chartConfigSchema();
  const out = [
    "# The agent's configuration, rendered into the ConfigMap as config.json; a change rolls the",
    '# DaemonSet (checksum/config annotation). Generated from the agent\'s config schema',
    '# (src/config/schema.ts) by scripts/gen/values-schema.ts, like the config part of',
    '# values.schema.json: edit the schema, then run npm run generate.',
    'config:',
  ];
  let open: string[] = [];
  for (const leaf of leaves(chart, configJsonSchema())) {
    const shared = open.findIndex((k, i) => leaf.path[i] !== k);
    const keep = shared < 0 ? Math.min(open.length, leaf.path.length - 1) : shared;
    leaf.path.slice(keep, -1).forEach((k, i) => out.push(`${'  '.repeat(keep + i + 1)}${k}:`));
    const indent = '  '.repeat(leaf.path.length);
    out.push(...comment(leaf.description, indent), `${indent}${leaf.path.at(-1)}: ${yamlValue(leaf.value)}`);
    open = leaf.path.slice(0, -1);
  }
  return `${out.join('\n')}\n`;
}

/** values.yaml with its config block (the comment above `config:` and everything under it) replaced. */
export function renderValuesYaml(current = readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')): string {
  const lines = current.split('\n');
  const start = lines.indexOf('config:');
  if (start < 0) throw new Error(`${VALUES_FILE} has no top-level config: key`);
  let first = start;
  while (first > 0 && lines[first - 1]!.startsWith('#')) first--;
  let end = start + 1;
  while (end < lines.length && (lines[end] === '' ? /^\s/.test(lines[end + 1] ?? '') : /^\s/.test(lines[end]!))) end++;
  return [...lines.slice(0, first), renderConfigBlock().trimEnd(), ...lines.slice(end)].join('\n');
}

/** values.schema.json with its config part and the definitions that part refers to replaced. */
export function renderValuesSchema(current = readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')): string {
  const root = JSON.parse(current) as { definitions: Record<string, unknown>; properties: Record<string, unknown> };
  if (!('config' in root.properties)) throw new Error(`${SCHEMA_FILE} has no config property to replace`);
  Object.assign(root.definitions, structuredClone(JSON_SCHEMA_DEFINITIONS));
  root.properties.config = chartConfigSchema();
  return `${JSON.stringify(root, null, 2)}\n`;
}

function locate(root: JsonSchema, path: string): { parent: JsonSchema & { properties?: Record<string, JsonSchema> }; key: string } {
  const keys = path.split('.');
  let parent = root as JsonSchema & { properties?: Record<string, JsonSchema> };
  for (const key of keys.slice(0, -1)) parent = parent.properties?.[key] as typeof parent;
  const key = keys.at(-1)!;
  if (!parent?.properties?.[key]) throw new Error(`CHART names ${path}, which src/config/schema.ts does not have`);
  return { parent, key };
}

/** Calls `visit` on every schema in the tree, children first. */
function walk(node: JsonSchema, visit: (node: JsonSchema) => void): void {
  for (const child of Object.values((node.properties ?? {}) as Record<string, JsonSchema>)) walk(child, visit);
  for (const key of ['items', 'additionalProperties', 'if', 'then', 'else', 'not']) if (isSchema(node[key])) walk(node[key], visit);
  for (const key of ['anyOf', 'allOf', 'oneOf']) if (Array.isArray(node[key])) for (const child of node[key] as JsonSchema[]) walk(child, visit);
  visit(node);
}

/** Calls `visit` on every field of the config, at every depth (not on the schemas inside a field's rules). */
function eachField(node: JsonSchema, visit: (field: JsonSchema) => void): void {
  for (const child of Object.values((node.properties ?? {}) as Record<string, JsonSchema>)) {
    eachField(child, visit);
    visit(child);
  }
}

const isSchema = (v: unknown): v is JsonSchema => v !== null && typeof v === 'object' && !Array.isArray(v);

function stripDefaults(schema: JsonSchema): JsonSchema {
  const copy = structuredClone(schema);
  walk(copy, (node) => delete node.default);
  return copy;
}

const dropUndefined = (schema: JsonSchema): JsonSchema => JSON.parse(JSON.stringify(schema)) as JsonSchema;

/** description, $comment and type first, the way the hand-written part of the file reads. */
function tidy(schema: JsonSchema): JsonSchema {
  walk(schema, (node) => {
    const entries = Object.entries(node);
    const rank = (k: string) => ['description', '$comment', 'type'].indexOf(k) >>> 0;
    for (const [k] of entries) delete node[k];
    for (const [k, v] of entries.sort(([a], [b]) => rank(a) - rank(b))) node[k] = v;
  });
  return schema;
}

const files: GeneratedFile[] = [
  { path: SCHEMA_FILE, render: () => renderValuesSchema(), feedsOthers: true },
  { path: VALUES_FILE, render: () => renderValuesYaml(), feedsOthers: true },
];
export default files;
