import { Environment } from '@marcbachmann/cel-js';
import { describe, expect, it } from 'vitest';
import { CLEANUP_FLAGS } from '../../src/cli/cleanup.ts';
import { loadConfig } from '../../src/config/load.ts';
import { configSchema, EXTRAS, type Config } from '../../src/config/schema.ts';
import { DEFAULT_PREFIX, defaultTagPrefix, isOwnKey, keyProblems, nodeKeys, ownershipKeys, RESERVED_DOMAINS, WELL_KNOWN_KEYS } from '../../src/keys/keys.ts';
import { reconcilePolicy } from '../../src/kube/policy.ts';
import { render as renderDocument } from '../../src/mapping/render.ts';
import { runHelm, templateArgs, VAP_API } from '../../scripts/helm.ts';
import { EVERY_FIELD_DOCUMENT } from '../helpers/instanceDocuments.ts';
import { at, find, render, type K8sObject } from './chart.ts';

/**
 * The chart's key rules (the prefix defaults in _helpers.tpl, the admission policy's CEL, the
 * cleanup Job's flags, values.schema.json's prefix checks) against the agent's one home for
 * them, src/keys/. Each case renders the chart with helm and reads back what the templates made.
 */

const env = new Environment({ unlistedVariablesAreDyn: true });

interface Rendered {
  objects: K8sObject[];
  /** The agent's config, from the ConfigMap, through the agent's own schema. */
  agent: Config['labels'];
  /** The cleanup Job's config, from its arguments, through the agent's own flag parser. */
  cleanup: Config['labels'];
}

async function renderChart(labels: Record<string, unknown>): Promise<Rendered> {
  const objects = render({ config: { labels } }, { apiVersions: [VAP_API] });
  // The agent's ConfigMap, and the cleanup hook's copy (Helm deletes the release's own before a post-delete hook runs).
  const maps = objects.filter((o) => o.kind === 'ConfigMap' && typeof at(o, 'data', 'config.json') === 'string');
  const [map, ...more] = maps.filter((o) => !String(at(o, 'metadata', 'name')).endsWith('-cleanup'));
  const [cleanupMap, ...moreCleanup] = maps.filter((o) => String(at(o, 'metadata', 'name')).endsWith('-cleanup'));
  expect([...more, ...moreCleanup]).toEqual([]);
  const agent = configSchema.parse(JSON.parse(at(map, 'data', 'config.json') as string)).labels;
  const args = at(find(objects, 'Job'), 'spec', 'template', 'spec', 'containers', 0, 'args') as string[];
  expect(args[0]).toBe('cleanup');
  const readFile = () => at(cleanupMap, 'data', 'config.json') as string;
  const { config } = await loadConfig({ argv: args.slice(1), env: {}, readFile }, CLEANUP_FLAGS);
  return { objects, agent, cleanup: config.labels };
}

/** The keys the policy's expression `name` refuses, out of `keys`. */
function refusedBy(objects: K8sObject[], name: 'foreignLabels' | 'foreignAnnotations', keys: string[]): string[] {
  const variables = at(find(objects, 'ValidatingAdmissionPolicy'), 'spec', 'variables') as { name: string; expression: string }[];
  const expression = variables.find((v) => v.name === name)!.expression;
  const changed = name === 'foreignLabels' ? 'changedLabels' : 'changedAnnotations';
  // The agent setting every key: new values for all of them, none there before.
  const set = Object.fromEntries(keys.map((k) => [k, 'v']));
  const [now, before] = name === 'foreignLabels' ? ['newLabels', 'oldLabels'] : ['newAnnotations', 'oldAnnotations'];
  return env.evaluate(expression, { variables: { [changed]: keys, [now]: set, [before]: {} } }) as string[];
}

/** Keys the agent may write under `labels`, and valid keys just outside them. */
function candidateKeys(labels: Config['labels']): string[] {
  const desired = renderDocument(EVERY_FIELD_DOCUMENT, { ...labels, extras: [...EXTRAS], wellKnown: true });
  const { prefix, tagPrefix } = labels;
  return [
    ...Object.keys(desired.labels),
    ...Object.keys(desired.annotations),
    ...Object.values(ownershipKeys(prefix)),
    ...WELL_KNOWN_KEYS,
    `sub.${prefix}/x`,
    `x${prefix}/x`,
    `${prefix}x/x`,
    `sub.${tagPrefix}/x`,
    `${DEFAULT_PREFIX}/x`,
    'kubernetes.io/hostname',
    'topology.kubernetes.io/other',
    'kubernetes.azure.com/agentpool',
    'team',
  ];
}

const CASES: [string, Record<string, unknown>, { prefix: string; tagPrefix: string }][] = [
  ['defaults', {}, { prefix: DEFAULT_PREFIX, tagPrefix: defaultTagPrefix(DEFAULT_PREFIX) }],
  ['a prefix, the tag prefix defaulted', { prefix: 'azure.example.com' }, { prefix: 'azure.example.com', tagPrefix: defaultTagPrefix('azure.example.com') }],
  ['both prefixes', { prefix: 'azure.example.com', tagPrefix: 'vmtags.example.com' }, { prefix: 'azure.example.com', tagPrefix: 'vmtags.example.com' }],
  ['the well-known keys on', { wellKnown: true }, { prefix: DEFAULT_PREFIX, tagPrefix: defaultTagPrefix(DEFAULT_PREFIX) }],
  ['the well-known keys on, both prefixes', { wellKnown: true, prefix: 'azure.example.com', tagPrefix: 'vmtags.example.com' }, { prefix: 'azure.example.com', tagPrefix: 'vmtags.example.com' }],
];

describe('the chart against src/keys', () => {
  it.each(CASES)('%s: the agent\'s config has the prefixes src/keys derives', async (_name, labels, prefixes) => {
    const { agent } = await renderChart(labels);
    expect({ prefix: agent.prefix, tagPrefix: agent.tagPrefix }).toEqual(prefixes);
  });

  it.each(CASES)('%s: the admission policy lets through exactly the keys the agent may own', async (_name, labels) => {
    const { objects, agent } = await renderChart(labels);
    const keys = candidateKeys(agent);
    expect(refusedBy(objects, 'foreignLabels', keys)).toEqual(keys.filter((k) => !isOwnKey(k, agent)));
    expect(refusedBy(objects, 'foreignAnnotations', keys)).toEqual(keys.filter((k) => !isOwnKey(k, { ...agent, wellKnown: false })));
  });

  it.each(CASES)('%s: the cleanup Job may remove every key the agent may own, and reads the same ownership record', async (_name, labels) => {
    const { agent, cleanup } = await renderChart(labels);
    const agentPolicy = reconcilePolicy(agent);
    const cleanupPolicy = reconcilePolicy(cleanup);
    expect(cleanupPolicy.ownershipKeys).toEqual(agentPolicy.ownershipKeys);
    const keys = candidateKeys(agent);
    expect(keys.filter(cleanupPolicy.mayOwn)).toEqual(keys.filter(agentPolicy.mayOwn));
  });

  it.each(CASES)('%s: the policy and the DaemonSet name the taints and condition src/keys derives', async (_name, labels) => {
    const { objects, agent } = await renderChart(labels);
    const keys = nodeKeys(agent.prefix);
    const policy = JSON.stringify(at(find(objects, 'ValidatingAdmissionPolicy'), 'spec'));
    for (const key of [keys.startupTaint, keys.maintenanceTaint, keys.maintenanceCondition]) expect(policy).toContain(`'${key}'`);
    expect(policy).not.toContain(`'${nodeKeys(agent.prefix === DEFAULT_PREFIX ? 'other.example.com' : DEFAULT_PREFIX).startupTaint}'`);
    const tolerations = at(find(objects, 'DaemonSet'), 'spec', 'template', 'spec', 'tolerations') as { key?: string; effect?: string }[];
    expect(tolerations.filter((t) => t.key?.startsWith(`${agent.prefix}/`))).toEqual([
      { key: keys.startupTaint, operator: 'Exists', effect: 'NoSchedule' },
      { key: keys.maintenanceTaint, operator: 'Exists', effect: 'NoSchedule' },
    ]);
  });

  const accepts = (labels: Record<string, unknown>) => runHelm(templateArgs({ apiVersions: [VAP_API] }), { config: { labels } }).ok;
  const long = (n: number) => `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(n - 192)}`;

  it.each([
    ...RESERVED_DOMAINS.flatMap((d) => [
      [`prefix ${d}`, { prefix: d }],
      [`prefix x.${d}`, { prefix: `x.${d}` }],
      [`prefix x${d}`, { prefix: `x${d}` }],
      [`tag prefix tags.${d}`, { tagPrefix: `tags.${d}` }],
    ]),
    ...[248, 249, 250, 253, 254].flatMap((n) => [
      [`a prefix of ${n} characters`, { prefix: long(n) }],
      [`a prefix of ${n} characters and a tag prefix`, { prefix: long(n), tagPrefix: 'vmtags.example.com' }],
    ]),
    ['an upper-case prefix', { prefix: 'Example.com' }],
    ['a tag prefix with a slash', { prefix: 'example.com', tagPrefix: 'bad/prefix' }],
  ] as [string, { prefix?: string; tagPrefix?: string }][])('values.schema.json accepts %s exactly when src/keys does', (_name, labels) => {
    expect(accepts(labels)).toBe(keyProblems({ prefix: DEFAULT_PREFIX, ...labels }).length === 0);
  });
});
