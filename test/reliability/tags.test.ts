import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { builtInFixture } from '../../testbed/imds-emulator/fixtures.ts';
import { agentPart, foreignPart, nodeMeta, ownershipProblems, startInProcessAgent, startWorld, TAG_PREFIX, TAGS_ANNOTATION, wireWithTags, type InProcessAgent, type Tag, type Wire, type World } from './harness.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Hostile and extreme VM tags through the real agent loop (in process, against the sandbox).
 * The oracle here is written from Kubernetes' rules, not from the mapping code: a tag becomes the
 * label `tags.imds-labeler.io/<name>` exactly when its name and value are valid as they are and no
 * other tag has the same name ignoring case; nothing else is ever written outside the agent's
 * prefixes; every tag is in the annotation.
 */

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const validName = (n: string) => n.length <= 63 && NAME.test(n);
const validValue = (v: string) => v === '' || (v.length <= 63 && NAME.test(v));
/** Ordinal ignore-case, per code point (the generators avoid characters whose upper case is longer). */
const fold = (s: string) => [...s].map((c) => c.toUpperCase()).join('');

/** The tag labels Kubernetes rules allow for these tags, by the rules above. */
function expectedTagLabels(tags: readonly Tag[]): Record<string, string> {
  const count = new Map<string, number>();
  for (const t of tags) count.set(fold(t.name), (count.get(fold(t.name)) ?? 0) + 1);
  const out: Record<string, string> = {};
  for (const t of tags) if (validName(t.name) && validValue(t.value) && count.get(fold(t.name)) === 1) out[`${TAG_PREFIX}/${t.name}`] = t.value;
  return out;
}

const byNameValue = (a: Tag, b: Tag) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.value < b.value ? -1 : a.value > b.value ? 1 : 0);
const annotationOf = (tags: readonly Tag[]) => JSON.stringify([...tags].sort(byNameValue).map(({ name, value }) => ({ name, value })));

let world: World;
let agent: InProcessAgent | undefined;
let kubeletLabels: Record<string, string>;
let kubeletAnnotations: Record<string, string>;

beforeAll(async () => {
  world = await startWorld({ nodes: ['node-0'] });
  kubeletLabels = foreignPart(nodeMeta(world.sandbox).labels);
  kubeletAnnotations = foreignPart(nodeMeta(world.sandbox).annotations);
});
afterAll(async () => {
  await world?.close();
});
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  world.reset();
});

/** Everything the agent wrote must be valid, inside its prefixes, and leave the rest of the node alone. */
function checkNode(tags: readonly Tag[]): void {
  const node = nodeMeta(world.sandbox);
  expect(foreignPart(node.labels)).toEqual(kubeletLabels);
  for (const [key, value] of Object.entries(agentPart(node.labels))) {
    const [prefix, name, ...rest] = key.split('/');
    expect(rest, key).toEqual([]);
    expect(validName(name!), key).toBe(true);
    expect(validValue(value), `${key}=${value}`).toBe(true);
    expect(['imds-labeler.io', TAG_PREFIX]).toContain(prefix);
  }
  const tagLabels = Object.fromEntries(Object.entries(node.labels).filter(([k]) => k.startsWith(`${TAG_PREFIX}/`)));
  expect(tagLabels).toEqual(expectedTagLabels(tags));
  if (tags.length) expect(node.annotations[TAGS_ANNOTATION]).toBe(annotationOf(tags));
  else expect(node.annotations[TAGS_ANNOTATION]).toBeUndefined();
  expect(foreignPart(node.annotations)).toEqual(kubeletAnnotations);
  expect(ownershipProblems(world.sandbox)).toEqual([]);
}

const converge = (tags: readonly Tag[], what = 'annotation converged') =>
  waitFor(what, () => nodeMeta(world.sandbox).annotations[TAGS_ANNOTATION], { accept: (v) => (tags.length ? v === annotationOf(tags) : v === undefined) });

describe('tag edge cases', () => {
  it('the built-in tag-edge-cases fixture: only valid labels, nothing outside the prefixes, every tag in the annotation', async () => {
    const wire = builtInFixture('tag-edge-cases') as Wire;
    const tags = wire.compute.tagsList!;
    world.emulator.setFixture(wire);
    agent = await startInProcessAgent(world);
    await converge(tags);
    checkNode(tags);
    const labels = nodeMeta(world.sandbox).labels;
    // Spot checks of the cases the fixture exists for.
    expect(labels[`${TAG_PREFIX}/empty`]).toBe('');
    expect(labels[`${TAG_PREFIX}/numeric`]).toBe('007');
    expect(labels[`${TAG_PREFIX}/${'a'.repeat(63)}`]).toBe('b'.repeat(63));
    expect(labels[`${TAG_PREFIX}/${'c'.repeat(64)}`]).toBeUndefined();
    for (const n of ['Environment', 'environment', 'ENVIRONMENT']) expect(labels[`${TAG_PREFIX}/${n}`]).toBeUndefined();
    expect(labels['kubernetes.io/role']).toBeUndefined();
    expect(labels['node-role.kubernetes.io/control-plane']).toBeUndefined();
    expect(labels['k8s.io/owned']).toBeUndefined();
    expect(await agent.metric('imds_labeler_tags_skipped', { reason: 'duplicate-name' })).toBe(3);
    expect(await agent.metric('imds_labeler_tags_skipped', { reason: 'invalid-name' })).toBeGreaterThanOrEqual(10);
  });

  it('Azure maxima: 50 tags, names of 512 and values of 256 characters, all in the annotation', async () => {
    const tags = Array.from({ length: 50 }, (_, i) => ({ name: `${String(i).padStart(2, '0')}${'n'.repeat(510)}`, value: 'v'.repeat(256) }));
    tags[0] = { name: 'short', value: 'ok' };
    world.emulator.setFixture(wireWithTags(tags));
    agent = await startInProcessAgent(world);
    await converge(tags);
    checkNode(tags);
    expect(nodeMeta(world.sandbox).labels[`${TAG_PREFIX}/short`]).toBe('ok');
    expect(await agent.metric('imds_labeler_tags_skipped', { reason: 'name-too-long' })).toBe(49);
  });

  it('50 tags of multi-byte maxima: the annotation stays under its 64 KiB cap and says how many it left out', async () => {
    // 50 × (512 + 256) emoji is about 150 KiB of UTF-8: more than the annotation's cap, by design.
    const tags = Array.from({ length: 50 }, (_, i) => ({ name: `${i}${'🚀'.repeat(255)}`, value: '한'.repeat(256) }));
    world.emulator.setFixture(wireWithTags(tags));
    agent = await startInProcessAgent(world);
    const annotations = await waitFor('annotation written, with the count left out', () => nodeMeta(world.sandbox).annotations, { accept: (a) => 'imds-labeler.io/tags-omitted' in a });
    const kept = JSON.parse(annotations[TAGS_ANNOTATION]!) as Tag[];
    expect(Buffer.byteLength(annotations[TAGS_ANNOTATION]!, 'utf8')).toBeLessThanOrEqual(64 * 1024);
    expect(kept.length + Number(annotations['imds-labeler.io/tags-omitted'])).toBe(50);
    for (const t of kept) expect(tags).toContainEqual(t);
    expect(agentPart(nodeMeta(world.sandbox).labels)).not.toHaveProperty(`${TAG_PREFIX}/${tags[0]!.name}`);
    expect(ownershipProblems(world.sandbox)).toEqual([]);
  });

  it('separators, Unicode, emoji, case twins, empty values and reserved-looking names', async () => {
    const tags: Tag[] = [
      { name: 'a;b', value: 'x' },
      { name: 'a:b', value: 'x' },
      { name: 'a=b', value: 'x' },
      { name: 'a/b', value: 'x' },
      { name: 'a b', value: 'x' },
      { name: 'ok', value: 'semi;colon' },
      { name: 'ok2', value: 'has space' },
      { name: 'ok3', value: '' },
      { name: 'Team', value: 'a' },
      { name: 'team', value: 'b' },
      { name: 'Zone', value: 'z' },
      { name: 'ünïcode', value: 'x' },
      { name: 'emoji', value: '🚀' },
      { name: '🔥', value: 'hot' },
      { name: 'kubernetes.io/hostname', value: 'evil' },
      { name: 'node-role.kubernetes.io/master', value: '' },
      { name: '../../etc', value: 'x' },
      { name: 'owned-labels', value: 'kubernetes.io/hostname' },
      { name: '-dash', value: 'x' },
      { name: 'dot.', value: 'x' },
      { name: 'x', value: 'y'.repeat(63) },
      { name: 'y', value: 'y'.repeat(64) },
    ];
    world.emulator.setFixture(wireWithTags(tags));
    agent = await startInProcessAgent(world);
    await converge(tags);
    checkNode(tags);
    expect(nodeMeta(world.sandbox).labels['kubernetes.io/hostname']).toBe('node-0');
  });
});

describe('property: any tag set, through the real agent loop', () => {
  const pieces = [
    'env', 'team', 'Team', 'TEAM', 'a', 'Z9', 'x.y', 'x_y', 'x-y', '0',
    ';', ':', '=', '/', ' ', '-', '_', '.', 'é', '한', '🚀', 'kubernetes.io/', 'k8s.io/', 'node-role.', 'imds-labeler.io/',
  ];
  const text = (max: number) => fc.array(fc.constantFrom(...pieces), { maxLength: max }).map((p) => p.join(''));
  const longText = (n: number) => fc.constantFrom('n', 'N', '🚀', 'é').map((c) => c.repeat(n));
  const name = fc.oneof({ weight: 6, arbitrary: text(6).filter((s) => s.length > 0) }, { weight: 1, arbitrary: longText(64) }, { weight: 1, arbitrary: longText(512).map((s) => s.slice(0, 512)) });
  const value = fc.oneof({ weight: 6, arbitrary: text(5) }, { weight: 1, arbitrary: longText(63) }, { weight: 1, arbitrary: longText(256).map((s) => s.slice(0, 256)) });
  // Names unique as IMDS lists them (Azure itself refuses exact duplicates); case twins allowed.
  const tagSet = fc.uniqueArray(fc.record({ name, value }), { maxLength: 12, selector: (t) => t.name });

  it('only valid labels, nothing outside the prefixes, every tag in the annotation, ownership consistent', async () => {
    agent = await startInProcessAgent(world);
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(tagSet, async (tags) => {
        runs++;
        // A marker tag makes every run a change the agent must act on, even for an empty set.
        const all = [...tags.filter((t) => t.name !== 'run'), { name: 'run', value: String(runs) }];
        world.emulator.setFixture(wireWithTags(all));
        await converge(all, `run ${runs}`);
        checkNode(all);
      }),
      { numRuns: 25, endOnFailure: true },
    );
  });
});
