import { describe, expect, it } from 'vitest';
import { compileGlob, foldCase, matchesGlob, tagNameFilter } from '../../src/mapping/glob.ts';

describe('tag name globs', () => {
  it.each([
    ['*', '', true],
    ['*', 'anything at all', true],
    ['env', 'env', true],
    ['env', 'ENV', true],
    ['ENV', 'env', true],
    ['env', 'env2', false],
    ['env*', 'Environment', true],
    ['env*', 'myenv', false],
    ['*env', 'myEnv', true],
    ['*-id', 'cost-center-id', true],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'aXbY', false],
    ['?', 'x', true],
    ['?', '', false],
    ['?', 'xy', false],
    ['?', '🙂', true],
    ['??', '🙂', false],
    ['team-?', 'team-a', true],
    ['a.b', 'axb', false],
    ['a.b', 'a.b', true],
    ['[ab]', 'a', false],
    ['[ab]', '[AB]', true],
    ['(x)+', '(x)+', true],
    ['$^', '$^', true],
    ['직급*', '직급-레벨', true],
    ['**', '', true],
    ['*?*', '', false],
    ['s', 'ſ', true],
    ['ß', 'SS', false],
  ])('%j matches %j: %s', (pattern, name, expected) => {
    expect(matchesGlob(pattern, name)).toBe(expected);
  });

  it('stays linear on patterns that make regular expressions backtrack', () => {
    const match = compileGlob('*a*a*a*a*a*a*a*a*b');
    const name = 'a'.repeat(20_000);
    const started = performance.now();
    expect(match(name)).toBe(false);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('folds case per code point, as Resource Manager compares names', () => {
    expect(foldCase('Cost-Center')).toBe('COST-CENTER');
    expect(foldCase('ß')).toBe('ß');
    expect(foldCase('🙂x')).toBe('🙂X');
    expect(foldCase('\u212A')).not.toBe(foldCase('k'));
  });
});

describe('include/exclude filter', () => {
  it.each([
    [['*'], [], 'team', true],
    [['*'], ['secret*'], 'SecretKey', false],
    [['team', 'env'], [], 'Team', true],
    [['team', 'env'], [], 'owner', false],
    [['*'], ['*'], 'team', false],
    [[], [], 'team', false],
    [['t*'], ['*x'], 'tax', false],
    [['t*'], ['*x'], 'tab', true],
  ])('include %j exclude %j: %j passes %s', (include, exclude, name, expected) => {
    expect(tagNameFilter(include, exclude)(name)).toBe(expected);
  });
});
