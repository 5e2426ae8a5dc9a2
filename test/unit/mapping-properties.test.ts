import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { configSchema, EXTRAS } from '../../src/config/schema.ts';
import type { InstanceDocument, Tag } from '../../src/imds/document.ts';
import { foldCase, matchesGlob, tagNameFilter } from '../../src/mapping/glob.ts';
import { isQualifiedName, isValidLabelValue } from '../../src/keys/names.ts';
import { FIELD_LABELS, resolveKey } from '../../src/mapping/reference.ts';
import { isOwnKey } from '../../src/keys/keys.ts';
import { render, type LabelsConfig } from '../../src/mapping/render.ts';
import { parseLegacyTags, readTags } from '../../src/mapping/tags.ts';
import { schemaDocument } from '../helpers/instanceDocuments.ts';

const RUNS = { numRuns: 300 };

/** Strings of every kind: ASCII, any code point, graphemes, label-shaped, long. */
const anyText = (maxLength = 80) =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: 'grapheme', maxLength }),
    fc.string({ unit: 'binary-ascii', maxLength }),
    fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,70}[A-Za-z0-9])?$/),
    fc.constantFrom('', 'env', 'Env', 'ENV', 'team', 'zone', 'kubernetes.io/role', 'a;b', 'a:b', 'a=b', 'a b', '🙂', '직급'),
    fc.nat({ max: 600 }).map((n) => 'x'.repeat(n)),
  );

const tagArb: fc.Arbitrary<Tag> = fc.record({ name: anyText(), value: anyText() });

/** A wire value that may be "" (absent), well-formed or arbitrary. */
const field = (...good: string[]) => fc.oneof(fc.constant(''), fc.constantFrom(...good), anyText(40));
const numberField = fc.oneof(fc.constant(''), fc.nat({ max: 40 }).map(String), fc.maxSafeNat().map(String));
const boolField = fc.constantFrom('', 'true', 'false', 'TRUE', 'False');

const computeArb = fc.record(
  {
    azEnvironment: field('AzurePublicCloud', 'AZUREPUBLICCLOUD', 'azureusgovernmentcloud', 'AzureChinaCloud', 'AzureGermanCloud'),
    location: field('westus', 'WestEurope', 'West Europe'),
    vmSize: field('Standard_D4s_v5', 'Standard A3'),
    zone: field('1', '2', '3'),
    physicalZone: field('useast-AZ01'),
    platformFaultDomain: numberField,
    platformUpdateDomain: numberField,
    platformSubFaultDomain: numberField,
    priority: field('Spot', 'Regular'),
    evictionPolicy: field('Deallocate', 'Delete'),
    osType: field('Linux', 'Windows'),
    tags: fc.oneof(fc.constant(''), anyText(200), fc.array(tagArb, { maxLength: 8 }).map((ts) => ts.map((t) => `${t.name}:${t.value}`).join(';'))),
    tagsList: fc.oneof(fc.constant(''), fc.array(tagArb, { maxLength: 12 })),
    securityProfile: fc.record({ secureBootEnabled: boolField, virtualTpmEnabled: boolField, encryptionAtHost: boolField, securityType: field('TrustedLaunch', 'ConfidentialVM') }),
    host: fc.record({ id: field('/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/hostGroups/hg/hosts/h1', '/') }),
    hostGroup: fc.record({ id: field('/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/hostGroups/hg') }),
  },
  { requiredKeys: [] },
);

const documentArb: fc.Arbitrary<InstanceDocument> = computeArb.map((compute) => schemaDocument({ compute }));

const globArb = fc.oneof(fc.constantFrom('*', 'env*', '*-id', 'T?am', 'ENV', 'x*'), anyText(10).filter((s) => s.length > 0));

const labelsArb: fc.Arbitrary<LabelsConfig> = fc
  .record({
    prefix: fc.constantFrom('imds-labeler.io', 'example.com', 'a.b.c'),
    tagPrefix: fc.option(fc.constantFrom('tags.example.com', 'imds-labeler.io', 'vm-tags'), { nil: undefined }),
    include: fc.oneof(fc.constant(['*']), fc.array(globArb, { maxLength: 3 })),
    exclude: fc.array(globArb, { maxLength: 2 }),
    extras: fc.subarray([...EXTRAS]),
    wellKnown: fc.boolean(),
  })
  .map(({ include, exclude, ...rest }) => configSchema.parse({ labels: { ...rest, tags: { include, exclude } } }).labels);

/** The tags that pass the filter: what the annotation must hold. */
const filtered = (doc: InstanceDocument, labels: LabelsConfig) => {
  const passes = tagNameFilter(labels.tags.include, labels.tags.exclude);
  return readTags(doc.compute).tags.filter((t) => passes(t.name));
};

const multiset = (tags: readonly Tag[]) => tags.map((t) => JSON.stringify([t.name, t.value])).sort();

describe('render properties', () => {
  it('emits only valid keys the agent owns, with valid values', () => {
    fc.assert(
      fc.property(documentArb, labelsArb, (doc, labels) => {
        const desired = render(doc, labels);
        for (const [key, value] of Object.entries(desired.labels)) {
          expect(isQualifiedName(key), key).toBe(true);
          expect(isOwnKey(key, labels), key).toBe(true);
          expect(isValidLabelValue(value), `${key}=${value}`).toBe(true);
        }
        for (const key of Object.keys(desired.annotations)) {
          expect(isQualifiedName(key), key).toBe(true);
          expect(isOwnKey(key, labels), key).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('puts every tag that passes the filter in the annotation exactly once', () => {
    fc.assert(
      fc.property(documentArb, labelsArb, (doc, labels) => {
        const desired = render(doc, labels, { tagsAnnotationMaxBytes: Number.POSITIVE_INFINITY });
        const expected = filtered(doc, labels);
        const annotation = desired.annotations[`${labels.prefix}/tags`];
        if (expected.length === 0) expect(annotation).toBeUndefined();
        else expect(multiset(JSON.parse(annotation!) as Tag[])).toEqual(multiset(expected));
      }),
      RUNS,
    );
  });

  it('keeps the annotation under its cap and counts what it left out', () => {
    fc.assert(
      fc.property(documentArb, labelsArb, fc.integer({ min: 2, max: 2000 }), (doc, labels, cap) => {
        const desired = render(doc, labels, { tagsAnnotationMaxBytes: cap });
        const annotation = desired.annotations[`${labels.prefix}/tags`];
        if (annotation === undefined) return;
        expect(Buffer.byteLength(annotation)).toBeLessThanOrEqual(cap);
        const shown = (JSON.parse(annotation) as Tag[]).length;
        const omitted = Number(desired.annotations[`${labels.prefix}/tags-omitted`] ?? 0);
        expect(shown + omitted).toBe(filtered(doc, labels).length);
        expect(desired.problems?.some((p) => p.reason === 'annotation-too-large')).toBe(omitted > 0);
      }),
      RUNS,
    );
  });

  it('never labels a skipped tag, and labels every other tag that passes the filter as it is', () => {
    fc.assert(
      fc.property(documentArb, labelsArb, (doc, labels) => {
        const desired = render(doc, labels);
        const fieldKeys = new Set(FIELD_LABELS.map((e) => resolveKey(e.key, labels)));
        for (const { tag, reason } of desired.skipped) {
          const key = `${labels.tagPrefix}/${tag}`;
          if (reason === 'reserved-name') expect(fieldKeys.has(key)).toBe(true);
          // With prefix == tagPrefix, a skipped tag's key can be a field label's key, set from IMDS.
          else if (!fieldKeys.has(key)) expect(desired.labels, key).not.toHaveProperty(key);
        }
        const skippedNames = new Set(desired.skipped.map((s) => s.tag));
        for (const tag of filtered(doc, labels)) {
          const key = `${labels.tagPrefix}/${tag.name}`;
          if (!skippedNames.has(tag.name)) expect(desired.labels[key], key).toBe(tag.value);
        }
        const all = readTags(doc.compute).tags;
        const tagLabels = Object.keys(desired.labels).filter((k) => k.startsWith(`${labels.tagPrefix}/`) && !fieldKeys.has(k));
        expect(desired.skipped.length + tagLabels.length).toBe(all.length);
      }),
      RUNS,
    );
  });

  it('is deterministic, and independent of the order of tags', () => {
    fc.assert(
      fc.property(documentArb, labelsArb, fc.integer(), (doc, labels, seed) => {
        const once = JSON.stringify(render(doc, labels));
        expect(JSON.stringify(render(structuredClone(doc), labels))).toBe(once);
        const list = doc.compute.tagsList;
        if (list) {
          const shuffled = [...list].sort((a, b) => (hash(a, seed) - hash(b, seed)));
          expect(JSON.stringify(render({ ...doc, compute: { ...doc.compute, tagsList: shuffled } }, labels))).toBe(once);
        }
      }),
      RUNS,
    );
  });
});

function hash(tag: Tag, seed: number): number {
  let h = seed | 0;
  for (const ch of tag.name + '\u0000' + tag.value) h = Math.imul(h ^ ch.codePointAt(0)!, 16777619);
  return h;
}

describe('tag parsing and glob properties', () => {
  it('reads back legacy tags that hold no ";" and no ":" in their names', () => {
    const safe = fc.record({
      name: anyText(30).filter((s) => s !== '' && !s.includes(';') && !s.includes(':')),
      value: anyText(30).filter((s) => !s.includes(';')),
    });
    fc.assert(
      fc.property(fc.array(safe, { maxLength: 10 }), (tags) => {
        expect(parseLegacyTags(tags.map((t) => `${t.name}:${t.value}`).join(';'))).toEqual(tags);
      }),
      RUNS,
    );
  });

  it('never throws on a legacy string', () => {
    fc.assert(fc.property(anyText(300), (text) => void parseLegacyTags(text)), RUNS);
  });

  it('matches a name by itself and by its other case, without wildcards', () => {
    fc.assert(
      fc.property(anyText(40).filter((s) => !s.includes('*') && !s.includes('?')), (name) => {
        expect(matchesGlob(name, name)).toBe(true);
        expect(matchesGlob(foldCase(name), name)).toBe(true);
        expect(matchesGlob('*', name)).toBe(true);
      }),
      RUNS,
    );
  });

  it('agrees with a regular expression on ASCII', () => {
    const ascii = (chars: string[], maxLength: number) => fc.array(fc.constantFrom(...chars), { maxLength }).map((a) => a.join(''));
    fc.assert(
      fc.property(ascii(['a', 'B', '*', '?', '.'], 6), ascii(['a', 'b', 'A', '.', 'x'], 8), (pattern, name) => {
        const re = new RegExp(`^${pattern.replace(/[.]/g, '\\.').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'is');
        expect(matchesGlob(pattern, name)).toBe(re.test(name));
      }),
      { numRuns: 1000 },
    );
  });
});
