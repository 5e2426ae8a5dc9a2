import { describe, expect, it } from 'vitest';
import { KNOWN_API_VERSIONS, newestCommonVersion } from '../../src/imds/versions.ts';

describe('KNOWN_API_VERSIONS', () => {
  it('lists the contract versions newest first, without duplicates', () => {
    expect(KNOWN_API_VERSIONS[0]).toBe('2025-04-07');
    expect(KNOWN_API_VERSIONS.at(-1)).toBe('2017-03-01');
    expect(KNOWN_API_VERSIONS).toHaveLength(35);
    expect(new Set(KNOWN_API_VERSIONS).size).toBe(KNOWN_API_VERSIONS.length);
    expect([...KNOWN_API_VERSIONS]).toEqual([...KNOWN_API_VERSIONS].sort().reverse());
    for (const v of KNOWN_API_VERSIONS) expect(v).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it('is frozen', () => {
    expect(Object.isFrozen(KNOWN_API_VERSIONS)).toBe(true);
  });
});

describe('newestCommonVersion', () => {
  it.each<[string, string[], readonly string[] | undefined, string | undefined]>([
    ['everything offered', [...KNOWN_API_VERSIONS], undefined, '2025-04-07'],
    ['oldest first, as IMDS lists them', ['2017-03-01', '2019-06-04', '2021-02-01'], undefined, '2021-02-01'],
    ['a version the product does not know is skipped', ['2021-02-01', '2099-01-01'], undefined, '2021-02-01'],
    ['nothing in common', ['2099-01-01'], undefined, undefined],
    ['nothing offered', [], undefined, undefined],
    ['whitespace around entries', [' 2020-09-01 '], undefined, '2020-09-01'],
    ['a custom known list', ['2020-09-01', '2021-02-01'], ['2020-09-01', '2019-06-04'], '2020-09-01'],
    ['"newest" follows the known list order', ['2019-06-04', '2020-09-01'], ['2019-06-04', '2020-09-01'], '2019-06-04'],
  ])('%s', (_name, offered, known, expected) => {
    expect(known === undefined ? newestCommonVersion(offered) : newestCommonVersion(offered, known)).toBe(expected);
  });

  it('ignores entries that are not strings', () => {
    expect(newestCommonVersion([null, 42, '2019-06-04'] as unknown as string[])).toBe('2019-06-04');
  });
});
