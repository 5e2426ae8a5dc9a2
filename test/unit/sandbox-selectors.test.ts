import { describe, expect, it } from 'vitest';
import { SelectorError, matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from '../../testbed/kube-sandbox/selectors.ts';

const labels = { env: 'prod', tier: 'web', 'example.com/zone': '2', count: '7', empty: '' };

describe('label selectors', () => {
  const cases: [string, boolean][] = [
    ['', true],
    ['env=prod', true],
    ['env==prod', true],
    ['env=dev', false],
    ['env!=dev', true],
    ['env!=prod', false],
    ['missing!=x', true],
    ['env in (dev,prod)', true],
    ['env in (dev)', false],
    ['missing in (x)', false],
    ['env notin (dev)', true],
    ['env notin (prod, dev)', false],
    ['missing notin (x)', true],
    ['env', true],
    ['missing', false],
    ['!missing', true],
    ['!env', false],
    ['env=prod,tier=web', true],
    ['env=prod,tier=db', false],
    [' env = prod , tier in ( web ) ', true],
    ['example.com/zone=2', true],
    ['example.com/zone in (1,3)', false],
    ['count>5', true],
    ['count<5', false],
    ['env>5', false],
    ['empty=', true],
    ['empty', true],
    ['env=', false],
    ['env in (prod,)', true],
    ['empty in ()', true],
  ];
  it.each(cases)('%j → %s', (selector, expected) => {
    expect(matchesLabels(parseLabelSelector(selector), labels)).toBe(expected);
  });

  it('parses requirements', () => {
    expect(parseLabelSelector('a=b,!c,d notin (e,f)')).toEqual([
      { key: 'a', operator: '=', values: ['b'] },
      { key: 'c', operator: '!', values: [] },
      { key: 'd', operator: 'notin', values: ['e', 'f'] },
    ]);
  });

  it.each(['a=b=c', 'in (a)', 'a in b', 'a in (b', '=b', 'a b', 'a=b,', 'a>b', 'a=b c', 'bad key!=1', 'k=bad$value', `${'x'.repeat(64)}=1`, 'A/b=1', '!a=b'])(
    'rejects %j',
    (selector) => {
      expect(() => parseLabelSelector(selector)).toThrow(SelectorError);
    },
  );

  it('matches no labels at all', () => {
    expect(matchesLabels(parseLabelSelector('!a'), undefined)).toBe(true);
    expect(matchesLabels(parseLabelSelector('a'), undefined)).toBe(false);
  });
});

describe('field selectors', () => {
  const fields = { 'metadata.name': 'node-1', 'spec.unschedulable': 'false', 'metadata.namespace': 'a,b=c' };
  const cases: [string, boolean][] = [
    ['', true],
    ['metadata.name=node-1', true],
    ['metadata.name==node-1', true],
    ['metadata.name=node-2', false],
    ['metadata.name!=node-2', true],
    ['metadata.name!=node-1', false],
    ['metadata.name=node-1,spec.unschedulable=false', true],
    ['metadata.name=node-1,spec.unschedulable=true', false],
    ['metadata.namespace=a\\,b\\=c', true],
    ['metadata.name=', false],
  ];
  it.each(cases)('%j → %s', (selector, expected) => {
    expect(matchesFields(parseFieldSelector(selector), fields)).toBe(expected);
  });

  it.each(['metadata.name', 'metadata.name=a=b', 'metadata.name=a\\x'])('rejects %j', (selector) => {
    expect(() => parseFieldSelector(selector)).toThrow(SelectorError);
  });
});
