import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXTRAS } from '../../src/config/schema.ts';
import { isQualifiedName, isValidLabelValue } from '../../src/keys/names.ts';
import { FIELD_LABELS, labelReferenceMarkdown, PROBLEM_REASONS, REFERENCE, resolveKey, SKIP_REASONS } from '../../src/mapping/reference.ts';
import { render } from '../../src/mapping/render.ts';
import generator from '../../scripts/gen/labels.ts';
import { doc, labelsConfig, REGIONAL_WIRE, ZONAL_WIRE } from '../helpers/instanceDocuments.ts';

const prefixes = { prefix: 'imds-labeler.io', tagPrefix: 'tags.imds-labeler.io' };
const everything = labelsConfig({ extras: [...EXTRAS], wellKnown: true });

describe('label reference', () => {
  it('describes every key render writes, for zonal and regional VMs with everything on', () => {
    const documented = new Set(FIELD_LABELS.map((e) => resolveKey(e.key, prefixes)));
    for (const document of [doc(ZONAL_WIRE), doc(REGIONAL_WIRE)]) {
      const { labels, annotations } = render(document, everything);
      for (const key of Object.keys(labels).filter((k) => !k.startsWith(`${prefixes.tagPrefix}/`))) expect(documented, key).toContain(key);
      for (const key of Object.keys(annotations)) expect(key).toBe(`${prefixes.prefix}/tags`);
    }
  });

  it('has only entries render writes for the sample zonal VM, when switched on', () => {
    const { labels } = render(doc(ZONAL_WIRE), everything);
    for (const entry of FIELD_LABELS) expect(labels, entry.key).toHaveProperty([resolveKey(entry.key, prefixes)]);
  });

  it('has unique keys, valid once resolved, with valid examples', () => {
    const keys = REFERENCE.map((e) => e.key);
    expect(new Set(keys).size).toBe(keys.length);
    for (const entry of FIELD_LABELS) {
      expect(isQualifiedName(resolveKey(entry.key, prefixes)), entry.key).toBe(true);
      expect(isValidLabelValue(entry.example), entry.example).toBe(true);
      expect(entry.since).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
  });

  it('has a switch for every extra of the config schema', () => {
    for (const extra of EXTRAS) expect(FIELD_LABELS.some((e) => e.gate === extra), extra).toBe(true);
  });

  it('is what docs/labels.md holds (run npm run generate)', () => {
    expect(generator.path).toBe('docs/labels.md');
    expect(readFileSync(new URL('../../docs/labels.md', import.meta.url), 'utf8')).toBe(labelReferenceMarkdown());
  });

  it('documents every key, skip reason and problem reason', () => {
    const markdown = labelReferenceMarkdown();
    for (const entry of REFERENCE) expect(markdown).toContain(`\`${entry.key}\``);
    for (const reason of [...Object.keys(SKIP_REASONS), ...Object.keys(PROBLEM_REASONS)]) expect(markdown).toContain(`\`${reason}\``);
  });
});
