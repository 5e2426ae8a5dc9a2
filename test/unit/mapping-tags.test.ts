import { describe, expect, it } from 'vitest';
import type { Tag } from '../../src/imds/document.ts';
import { mapTags, parseLegacyTags, readTags, tagsAnnotation, type TagMappingOptions } from '../../src/mapping/tags.ts';
import { doc, ZONAL_WIRE } from '../helpers/instanceDocuments.ts';

const P = 'tags.imds-labeler.io';
const opts = (o: Partial<TagMappingOptions> = {}): TagMappingOptions => ({ tagPrefix: P, include: ['*'], exclude: [], ...o });
const one = (name: string, value = 'v') => mapTags([{ name, value }], opts());

describe('where tags come from', () => {
  it('uses tagsList when IMDS sends it', () => {
    expect(readTags(doc(ZONAL_WIRE, { tags: 'legacy:yes' }).compute)).toMatchObject({ source: 'tagsList', tags: ZONAL_WIRE.compute.tagsList });
  });
  it('uses an empty tagsList over a legacy string', () => {
    const tags = readTags(doc(ZONAL_WIRE, { tagsList: [], tags: 'legacy:yes' }).compute);
    expect(tags).toEqual({ source: 'tagsList', field: 'compute.tagsList', tags: [] });
  });
  it('falls back to the legacy string when tagsList is absent or ""', () => {
    for (const tagsList of [undefined, '']) {
      expect(readTags(doc(ZONAL_WIRE, { tagsList, tags: 'a:1;b:2' }).compute)).toEqual({
        source: 'tags', field: 'compute.tags', tags: [{ name: 'a', value: '1' }, { name: 'b', value: '2' }],
      });
    }
  });
  it('has no tags when IMDS sends neither', () => {
    expect(readTags(doc(ZONAL_WIRE, { tagsList: undefined, tags: '' }).compute)).toMatchObject({ source: 'none', tags: [] });
  });
});

describe('legacy tags string', () => {
  it.each([
    ['', []],
    ['baz:bash;foo:bar', [['baz', 'bash'], ['foo', 'bar']]],
    ['url:https://x.example/a', [['url', 'https://x.example/a']]],
    ['novalue', [['novalue', '']]],
    ['empty:', [['empty', '']]],
    [';;a:1;', [['a', '1']]],
    [':orphan', [['', 'orphan']]],
    ['a:x;y:z', [['a', 'x'], ['y', 'z']]],
    ['Cost Center:R&D 42', [['Cost Center', 'R&D 42']]],
  ])('%j', (text, expected) => {
    expect(parseLegacyTags(text)).toEqual(expected.map(([name, value]) => ({ name, value })));
  });
});

describe('tag → label', () => {
  it.each([
    ['team', 'payments', undefined],
    ['Team.Name_2', 'Payments-EU_1.0', undefined],
    ['empty', '', undefined],
    ['x'.repeat(63), 'y'.repeat(63), undefined],
    ['kubernetes.io/role', 'master', 'invalid-name'],
    ['node-role.kubernetes.io/worker', '', 'invalid-name'],
    ['cost center', 'x', 'invalid-name'],
    [' team', 'x', 'invalid-name'],
    ['a;b', 'x', 'invalid-name'],
    ['a:b', 'x', 'invalid-name'],
    ['a=b', 'x', 'invalid-name'],
    ['직급', 'x', 'invalid-name'],
    ['🙂', 'x', 'invalid-name'],
    ['', 'x', 'invalid-name'],
    ['-team', 'x', 'invalid-name'],
    ['x'.repeat(64), 'x', 'name-too-long'],
    ['x'.repeat(512), 'x', 'name-too-long'],
    [`${'x'.repeat(511)} `, 'x', 'invalid-name'],
    ['team', 'pay ments', 'invalid-value'],
    ['team', 'a;b', 'invalid-value'],
    ['team', 'a:b', 'invalid-value'],
    ['team', 'a=b', 'invalid-value'],
    ['team', 'a/b', 'invalid-value'],
    ['team', '2024-01-01T00:00:00Z', 'invalid-value'],
    ['team', '🙂', 'invalid-value'],
    ['team', 'ä', 'invalid-value'],
    ['team', '-x', 'invalid-value'],
    ['team', 'y'.repeat(64), 'value-too-long'],
    ['team', 'y'.repeat(256), 'value-too-long'],
    ['x'.repeat(512), 'y'.repeat(256), 'name-too-long'],
  ])('%j = %j → %s', (name, value, reason) => {
    const result = one(name, value);
    if (reason === undefined) {
      expect(result.labels).toEqual({ [`${P}/${name}`]: value });
      expect(result.skipped).toEqual([]);
    } else {
      expect(result.labels).toEqual({});
      expect(result.skipped).toEqual([{ tag: name, reason }]);
    }
    expect(result.kept).toEqual([{ name, value }]);
  });

  it('never rewrites a name or value into a different one', () => {
    const result = mapTags([{ name: 'Cost Center', value: 'R&D' }, { name: 'owner', value: 'Jane Doe' }], opts());
    expect(result.labels).toEqual({});
    expect(Object.keys(result.labels).some((k) => /cost|owner/i.test(k))).toBe(false);
  });
});

describe('tag names that differ only by case', () => {
  it('labels none of them and keeps all in the annotation', () => {
    const tags = [{ name: 'Env', value: 'dev' }, { name: 'env', value: 'prod' }, { name: 'team', value: 'a' }];
    const result = mapTags(tags, opts());
    expect(result.labels).toEqual({ [`${P}/team`]: 'a' });
    expect(result.skipped).toEqual([{ tag: 'Env', reason: 'duplicate-name' }, { tag: 'env', reason: 'duplicate-name' }]);
    expect(result.kept).toEqual([{ name: 'Env', value: 'dev' }, { name: 'env', value: 'prod' }, { name: 'team', value: 'a' }]);
  });
  it('treats a name repeated by a malformed legacy string the same way', () => {
    const result = mapTags(parseLegacyTags('env:dev;env:prod'), opts());
    expect(result.labels).toEqual({});
    expect(result.skipped.map((s) => s.reason)).toEqual(['duplicate-name', 'duplicate-name']);
  });
  it('gives the same result whatever order IMDS lists them in', () => {
    const tags: Tag[] = [{ name: 'ENV', value: '1' }, { name: 'b', value: '2' }, { name: 'env', value: '3' }, { name: 'a b', value: '4' }];
    const forward = mapTags(tags, opts());
    expect(mapTags([...tags].reverse(), opts())).toEqual(forward);
  });
  it('does not count an excluded tag as a duplicate', () => {
    const result = mapTags([{ name: 'Env', value: 'dev' }, { name: 'env', value: 'prod' }], opts({ exclude: ['Env'] }));
    // "Env" excluded case-insensitively excludes both spellings.
    expect(result.skipped).toEqual([{ tag: 'Env', reason: 'excluded' }, { tag: 'env', reason: 'excluded' }]);
    const other = mapTags([{ name: 'Env', value: 'dev' }, { name: 'env2', value: 'prod' }], opts({ exclude: ['env2'] }));
    expect(other.labels).toEqual({ [`${P}/Env`]: 'dev' });
  });
});

describe('include and exclude', () => {
  const tags = [{ name: 'team', value: 'a' }, { name: 'SecretToken', value: 'x' }, { name: 'env', value: 'prod' }];
  it('leaves excluded tags out of the labels and the annotation', () => {
    const result = mapTags(tags, opts({ exclude: ['secret*'] }));
    expect(result.labels).toEqual({ [`${P}/env`]: 'prod', [`${P}/team`]: 'a' });
    expect(result.kept.map((t) => t.name)).toEqual(['env', 'team']);
    expect(result.skipped).toEqual([{ tag: 'SecretToken', reason: 'excluded' }]);
  });
  it('maps only included names', () => {
    const result = mapTags(tags, opts({ include: ['TEAM', 'e?v'] }));
    expect(Object.keys(result.labels)).toEqual([`${P}/env`, `${P}/team`]);
    expect(result.skipped).toEqual([{ tag: 'SecretToken', reason: 'excluded' }]);
  });
  it('maps nothing with an empty include list', () => {
    expect(mapTags(tags, opts({ include: [] })).kept).toEqual([]);
  });
});

describe('reserved keys', () => {
  it('skips a tag whose label key an IMDS field uses', () => {
    const result = mapTags([{ name: 'zone', value: '9' }, { name: 'team', value: 'a' }], { ...opts(), tagPrefix: 'p.io', reservedKeys: new Set(['p.io/zone']) });
    expect(result.labels).toEqual({ 'p.io/team': 'a' });
    expect(result.skipped).toEqual([{ tag: 'zone', reason: 'reserved-name' }]);
  });
});

describe('tags annotation', () => {
  it('is compact JSON sorted by name', () => {
    const result = mapTags([{ name: 'b', value: '2' }, { name: 'a b', value: 'x;y:z=/' }, { name: 'A', value: '' }], opts());
    expect(tagsAnnotation(result.kept).value).toBe('[{"name":"A","value":""},{"name":"a b","value":"x;y:z=/"},{"name":"b","value":"2"}]');
  });
  it('keeps unicode as it is', () => {
    const value = tagsAnnotation([{ name: '직급', value: '🙂 "quoted" \\ back' }]).value;
    expect(JSON.parse(value)).toEqual([{ name: '직급', value: '🙂 "quoted" \\ back' }]);
  });
  it('leaves out what does not fit the cap, and says so', () => {
    const kept = [{ name: 'a', value: 'x'.repeat(30) }, { name: 'b', value: 'y'.repeat(200) }, { name: 'c', value: 'z' }];
    const { value, omitted } = tagsAnnotation(kept, 100);
    expect(Buffer.byteLength(value)).toBeLessThanOrEqual(100);
    expect(JSON.parse(value)).toEqual([kept[0], kept[2]]);
    expect(omitted).toEqual([kept[1]]);
  });
  it('counts bytes, not characters', () => {
    const kept = [{ name: 'k', value: '한'.repeat(20) }];
    // 20 characters, 60 bytes of UTF-8: '[{"name":"k","value":"' + 60 + '"}]' is 85 bytes.
    expect(tagsAnnotation(kept, 84).omitted).toEqual(kept);
    expect(tagsAnnotation(kept, 85).omitted).toEqual([]);
  });
});
