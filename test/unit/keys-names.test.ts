import { describe, expect, it } from 'vitest';
import {
  isDnsSubdomain,
  isLabelName,
  isQualifiedName,
  isValidLabelValue,
  labelNameProblem,
  labelValueProblem,
  validateDnsSubdomain,
  validateLabelValue,
  validateQualifiedName,
} from '../../src/keys/names.ts';

const a = (n: number, c = 'a') => c.repeat(n);

describe('Kubernetes label key rules (isQualifiedName)', () => {
  it.each([
    ['name', true],
    ['imds-labeler.io/zone', true],
    ['tags.imds-labeler.io/Cost_Center.v2', true],
    ['topology.kubernetes.io/zone', true],
    [`${a(63)}`, true],
    [`p.io/${a(63)}`, true],
    [`${a(253)}/x`, true],
    ['', false],
    ['/name', false],
    ['p.io/', false],
    [`${a(64)}`, false],
    [`p.io/${a(64)}`, false],
    [`${a(254)}/x`, false],
    ['Upper.io/name', false],
    ['p.io/a/b', false],
    ['p_io/name', false],
    ['-p.io/name', false],
    ['p.io/-name', false],
    ['p.io/name-', false],
    ['p.io/na me', false],
    ['p.io/név', false],
    ['p.io/🙂', false],
    ['p.io/a:b', false],
    ['p.io/a=b', false],
    ['p.io/name\n', false],
  ])('%j → %s', (key, valid) => {
    expect(isQualifiedName(key)).toBe(valid);
    expect(validateQualifiedName(key).length === 0).toBe(valid);
  });

  it('names the part at fault, as Kubernetes does', () => {
    expect(validateQualifiedName('/x')).toEqual(['prefix part must be non-empty']);
    expect(validateQualifiedName('p.io/')).toEqual(['name part must be non-empty']);
    expect(validateQualifiedName(`p.io/${a(64)}`)).toEqual(['name part must be no more than 63 characters']);
    expect(validateQualifiedName('P.io/x')[0]).toMatch(/^prefix part a lowercase RFC 1123 subdomain/);
    expect(validateQualifiedName('a/b/c')[0]).toMatch(/^a qualified name/);
  });
});

describe('label name part (labelNameProblem)', () => {
  it.each([
    ['team', undefined],
    ['a', undefined],
    ['A.b-c_9', undefined],
    [a(63), undefined],
    ['', 'empty'],
    [a(64), 'too-long'],
    [a(512), 'too-long'],
    [`${a(100)} `, 'invalid-characters'],
    ['kubernetes.io/role', 'invalid-characters'],
    ['_x', 'invalid-characters'],
    ['x.', 'invalid-characters'],
    ['직급', 'invalid-characters'],
  ] as const)('%j → %s', (name, problem) => {
    expect(labelNameProblem(name)).toBe(problem);
    expect(isLabelName(name)).toBe(problem === undefined);
  });
});

describe('label values (isValidLabelValue)', () => {
  it.each([
    ['', undefined],
    ['0', undefined],
    ['Standard_D4s_v5', undefined],
    ['westeurope-2', undefined],
    [a(63), undefined],
    [a(64), 'too-long'],
    [a(256), 'too-long'],
    ['West Europe', 'invalid-characters'],
    ['a;b', 'invalid-characters'],
    ['a:b', 'invalid-characters'],
    ['a=b', 'invalid-characters'],
    ['a/b', 'invalid-characters'],
    ['-a', 'invalid-characters'],
    ['a.', 'invalid-characters'],
    ['🙂', 'invalid-characters'],
    ['ü', 'invalid-characters'],
    [`${a(100)}!`, 'invalid-characters'],
  ] as const)('%j → %s', (value, problem) => {
    expect(labelValueProblem(value)).toBe(problem);
    expect(isValidLabelValue(value)).toBe(problem === undefined);
    expect(validateLabelValue(value).length === 0).toBe(problem === undefined);
  });
});

describe('DNS subdomains (isDnsSubdomain)', () => {
  it.each([
    ['imds-labeler.io', true],
    ['tags.imds-labeler.io', true],
    ['a', true],
    ['1.2.3', true],
    [`${a(253)}`, true],
    [`${a(254)}`, false],
    ['', false],
    ['Imds.io', false],
    ['a..b', false],
    ['.a', false],
    ['a-', false],
    ['a_b', false],
  ])('%j → %s', (value, valid) => {
    expect(isDnsSubdomain(value)).toBe(valid);
    expect(validateDnsSubdomain(value).length === 0).toBe(valid);
  });
});
