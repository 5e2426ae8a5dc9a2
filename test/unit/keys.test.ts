import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { configSchema, EXTRAS } from '../../src/config/schema.ts';
import {
  defaultTagPrefix,
  isOwnKey,
  isReservedDomain,
  isWellKnownKey,
  keyProblems,
  ownedKeyFilter,
  ownershipKeys,
  prefixProblem,
  RESERVED_DOMAINS,
  WELL_KNOWN_KEYS,
} from '../../src/keys/keys.ts';
import { DNS_SUBDOMAIN_MAX_LENGTH, isDnsSubdomain, isQualifiedName } from '../../src/keys/names.ts';
import { KUBELET_LABELS, nodeIdentityProblems, nodeMaySetLabel, nodeMaySetLabelsUnder } from '../../src/keys/nodeRestriction.ts';
import { render } from '../../src/mapping/render.ts';
import { EVERY_FIELD_DOCUMENT, labelsConfig } from '../helpers/instanceDocuments.ts';

const P = 'imds-labeler.io';
const T = 'tags.imds-labeler.io';
const RUNS = { numRuns: 300 };

/** A DNS subdomain of `n` characters: labels of 63 joined by dots, the last one shorter. */
const subdomainOf = (n: number) => {
  const labels: string[] = [];
  let left = n;
  while (left > 0) {
    const size = Math.min(63, left);
    labels.push('a'.repeat(size));
    left -= size + 1;
  }
  const text = labels.join('.');
  return text.endsWith('.') || text.length !== n ? `${text.slice(0, n - 1)}b` : text;
};

const dnsLabel = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
/** Subdomains from a few characters to past 253, so the tag prefix's limit is crossed often. */
const subdomainArb = fc.oneof(
  fc.array(dnsLabel, { minLength: 1, maxLength: 6 }).map((labels) => labels.join('.')),
  fc.integer({ min: 240, max: 256 }).map(subdomainOf),
);
/** Any prefix a user could type: subdomains, reserved ones, and text that is neither. */
const prefixArb = fc.oneof(
  subdomainArb,
  fc.tuple(subdomainArb, fc.constantFrom(...RESERVED_DOMAINS)).map(([s, d]) => `${s}.${d}`),
  fc.constantFrom(...RESERVED_DOMAINS),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary-ascii', maxLength: 300 }),
);

describe('prefixes (prefixProblem, keyProblems)', () => {
  it.each([
    [{ prefix: P }, []],
    [{ prefix: 'example.com', tagPrefix: 'vm.example.com' }, []],
    [{ prefix: subdomainOf(248) }, []],
    [{ prefix: subdomainOf(249) }, ['prefix']],
    [{ prefix: subdomainOf(250) }, ['prefix']],
    [{ prefix: subdomainOf(250), tagPrefix: 'vm-tags' }, []],
    [{ prefix: subdomainOf(253), tagPrefix: subdomainOf(253) }, []],
    [{ prefix: subdomainOf(254) }, ['prefix']],
    [{ prefix: P, tagPrefix: subdomainOf(254) }, ['tagPrefix']],
    [{ prefix: 'Example.com' }, ['prefix']],
    [{ prefix: 'node.kubernetes.io' }, ['prefix']],
    [{ prefix: 'k8s.io' }, ['prefix']],
    [{ prefix: 'kubernetes.azure.com' }, ['prefix']],
    [{ prefix: 'xk8s.io' }, []],
    [{ prefix: P, tagPrefix: 'tags.kubernetes.io' }, ['tagPrefix']],
    [{ prefix: 'bad prefix', tagPrefix: 'bad/prefix' }, ['prefix', 'tagPrefix']],
    // Empty is unset, as in the environment and the chart.
    [{ prefix: P, tagPrefix: '' }, []],
    [{ prefix: subdomainOf(249), tagPrefix: '' }, ['prefix']],
  ])('%j → problems with %j', (labels, fields) => {
    expect(keyProblems(labels).map((p) => p.field)).toEqual(fields);
  });

  it('tells how long the prefix may be when the default tag prefix is too long', () => {
    expect(keyProblems({ prefix: subdomainOf(250) })[0]?.message).toBe(
      'makes the tag prefix (tags.<prefix>) 255 characters long, over the 253 of a DNS subdomain: use a prefix of at most 248 characters, or set labels.tagPrefix',
    );
  });

  it('finds no problem exactly when the prefixes and the default tag prefix are DNS subdomains outside the reserved domains', () => {
    fc.assert(
      fc.property(prefixArb, fc.option(prefixArb, { nil: undefined }), (prefix, tagPrefix) => {
        const usable = (p: string) => isDnsSubdomain(p) && !RESERVED_DOMAINS.some((d) => p === d || p.endsWith(`.${d}`));
        const expected = usable(prefix) && usable(tagPrefix || `tags.${prefix}`);
        expect(keyProblems({ prefix, tagPrefix }).length === 0).toBe(expected);
        expect(prefixProblem(prefix) === undefined).toBe(usable(prefix));
      }),
      RUNS,
    );
  });

  it('the config schema accepts a prefix exactly when keyProblems finds nothing, and blames the field keyProblems names', () => {
    fc.assert(
      fc.property(prefixArb, fc.option(prefixArb, { nil: undefined }), (prefix, tagPrefix) => {
        const result = configSchema.safeParse({ labels: { prefix, tagPrefix } });
        const problems = keyProblems({ prefix, tagPrefix });
        expect(result.success).toBe(problems.length === 0);
        if (!result.success) expect(result.error.issues.map((i) => i.path.join('.'))).toEqual(problems.map((p) => `labels.${p.field}`));
      }),
      RUNS,
    );
  });

  it('every key a valid config derives is one Kubernetes accepts and the agent owns: the mapped keys and the ownership record', () => {
    fc.assert(
      fc.property(subdomainArb, fc.option(subdomainArb, { nil: undefined }), (prefix, tagPrefix) => {
        const parsed = configSchema.safeParse({ labels: { prefix, tagPrefix, extras: [...EXTRAS], wellKnown: true } });
        fc.pre(parsed.success);
        const labels = parsed.data!.labels;
        const desired = render(EVERY_FIELD_DOCUMENT, labels);
        const keys = [...Object.keys(desired.labels), ...Object.keys(desired.annotations), ...Object.values(ownershipKeys(labels.prefix))];
        expect(Object.keys(desired.labels).length).toBeGreaterThan(20);
        for (const key of keys) {
          expect(isQualifiedName(key), key).toBe(true);
          expect(isOwnKey(key, labels), key).toBe(true);
        }
      }),
      RUNS,
    );
  });
});

describe('reserved domains (isReservedDomain)', () => {
  it.each([
    ['kubernetes.io', true],
    ['node.kubernetes.io', true],
    ['k8s.io', true],
    ['a.b.k8s.io', true],
    ['kubernetes.azure.com', true],
    ['x.kubernetes.azure.com', true],
    ['azure.com', false],
    ['xkubernetes.io', false],
    ['k8s.io.example.com', false],
    [P, false],
  ])('%s → %s', (domain, reserved) => {
    expect(isReservedDomain(domain)).toBe(reserved);
  });

  it('holds for every subdomain of a reserved domain, and for no domain that merely ends in its text', () => {
    fc.assert(
      fc.property(dnsLabel, fc.constantFrom(...RESERVED_DOMAINS), (label, domain) => {
        expect(isReservedDomain(`${label}.${domain}`)).toBe(true);
        expect(isReservedDomain(`${label}${domain}`)).toBe(false);
      }),
      RUNS,
    );
  });
});

describe('default tag prefix and ownership keys', () => {
  it('derives tags.<prefix> and <prefix>/owned-labels, <prefix>/owned-annotations', () => {
    expect(defaultTagPrefix(P)).toBe(T);
    expect(labelsConfig().tagPrefix).toBe(T);
    expect(ownershipKeys(P)).toEqual({ labels: `${P}/owned-labels`, annotations: `${P}/owned-annotations` });
    expect(DNS_SUBDOMAIN_MAX_LENGTH).toBe(253);
  });

  it('knows exactly the three well-known keys', () => {
    expect([...WELL_KNOWN_KEYS].sort()).toEqual(['node.kubernetes.io/instance-type', 'topology.kubernetes.io/region', 'topology.kubernetes.io/zone']);
  });
});

describe('isOwnKey', () => {
  const cfg = labelsConfig();
  const wk = labelsConfig({ wellKnown: true });
  it.each([
    [`${P}/zone`, cfg, true],
    [`${P}/anything-else`, cfg, true],
    [`${T}/team`, cfg, true],
    ['topology.kubernetes.io/zone', cfg, false],
    ['topology.kubernetes.io/zone', wk, true],
    ['topology.kubernetes.io/region', wk, true],
    ['node.kubernetes.io/instance-type', wk, true],
    ['topology.kubernetes.io/other', wk, false],
    ['kubernetes.io/hostname', wk, false],
    ['node-role.kubernetes.io/worker', wk, false],
    ['kubernetes.azure.com/agentpool', wk, false],
    ['zone', cfg, false],
    [`sub.${P}/zone`, cfg, false],
    [`x${P}/zone`, cfg, false],
    [`${P}/`, cfg, false],
    [`${P}/a b`, cfg, false],
    [`${P}/${'a'.repeat(64)}`, cfg, false],
    ['example.com/zone', labelsConfig({ prefix: 'example.com' }), true],
    [`${P}/zone`, labelsConfig({ prefix: 'example.com' }), false],
    ['vm.example.com/team', labelsConfig({ prefix: 'example.com', tagPrefix: 'vm.example.com' }), true],
  ])('%j → %s', (key, config, owned) => {
    expect(isOwnKey(key, config)).toBe(owned);
    expect(ownedKeyFilter(config)(key)).toBe(owned);
  });

  it('refuses reserved domains even when a config names them', () => {
    expect(isOwnKey('kubernetes.io/role', { prefix: 'kubernetes.io', tagPrefix: 'k8s.io', wellKnown: false })).toBe(false);
    expect(isOwnKey('k8s.io/role', { prefix: 'kubernetes.io', tagPrefix: 'k8s.io', wellKnown: false })).toBe(false);
  });

  it('knows the well-known keys', () => {
    expect(isWellKnownKey('topology.kubernetes.io/zone')).toBe(true);
    expect(isWellKnownKey(`${P}/zone`)).toBe(false);
  });
});

describe('NodeRestriction: the labels a node may set on itself (kube.identity node)', () => {
  // As kube-apiserver 1.37's NodeRestriction decides (getForbiddenLabels, kubelet's IsKubeletLabel).
  it.each([
    [`${P}/zone`, true],
    [`${T}/team`, true],
    ['example.com/x', true],
    ['no-domain', true],
    ['topology.kubernetes.io/zone', true],
    ['topology.kubernetes.io/region', true],
    ['node.kubernetes.io/instance-type', true],
    ['failure-domain.beta.kubernetes.io/zone', true],
    ['kubernetes.io/hostname', true],
    ['kubernetes.io/arch', true],
    ['node.kubernetes.io/anything', true],
    ['a.node.kubernetes.io/anything', true],
    ['kubelet.kubernetes.io/anything', true],
    ['topology.kubernetes.io/other', false],
    ['kubernetes.io/role', false],
    ['node-role.kubernetes.io/worker', false],
    ['k8s.io/x', false],
    ['example.k8s.io/x', false],
    ['node-restriction.kubernetes.io/pool', false],
    ['a.node-restriction.kubernetes.io/pool', false],
    ['xkubernetes.io/x', true],
    ['kubernetes.azure.com/agentpool', true],
  ])('%s → %s', (key, allowed) => {
    expect(nodeMaySetLabel(key)).toBe(allowed);
  });

  it.each([
    [P, true],
    ['node.kubernetes.io', true],
    ['kubelet.kubernetes.io', true],
    ['topology.kubernetes.io', false],
    ['kubernetes.io', false],
    ['node-restriction.kubernetes.io', false],
  ])('every label under %s → %s', (domain, allowed) => {
    expect(nodeMaySetLabelsUnder(domain)).toBe(allowed);
  });

  it('covers the well-known keys: a node may set all three', () => {
    for (const key of WELL_KNOWN_KEYS) expect(KUBELET_LABELS.has(key), key).toBe(true);
  });

  it.each([
    [{ prefix: P, wellKnown: true }, []],
    [{ prefix: 'node-restriction.kubernetes.io', wellKnown: false }, ['prefix', 'prefix']],
    [{ prefix: 'topology.kubernetes.io', tagPrefix: T, wellKnown: false }, ['prefix']],
    [{ prefix: P, tagPrefix: 'tags.k8s.io', wellKnown: false }, ['tagPrefix']],
    [{ prefix: 'node.kubernetes.io', wellKnown: true }, []],
  ])('nodeIdentityProblems(%j) blames %j', (labels, fields) => {
    const problems = nodeIdentityProblems(labels);
    expect(problems.map((p) => p.field)).toEqual(fields);
    for (const p of problems) expect(p.message).toMatch(/^NodeRestriction does not let a node set labels under .*\/: use another prefix, or kube.identity serviceAccount$/);
  });

  // The domains NodeRestriction decides on, whatever RESERVED_DOMAINS holds.
  const nodeDomain = fc.constantFrom('kubernetes.io', 'k8s.io', 'node.kubernetes.io', 'kubelet.kubernetes.io', 'topology.kubernetes.io', 'node-restriction.kubernetes.io');
  const nodePrefixArb = fc.oneof(prefixArb, nodeDomain, fc.tuple(dnsLabel, nodeDomain).map(([l, d]) => `${l}.${d}`));

  it('every config the schema accepts works as the node too: each label it writes is one NodeRestriction lets a node set', () => {
    fc.assert(
      fc.property(nodePrefixArb, fc.option(nodePrefixArb, { nil: undefined }), fc.boolean(), (prefix, tagPrefix, wellKnown) => {
        const asAccount = configSchema.safeParse({ labels: { prefix, tagPrefix, wellKnown, extras: [...EXTRAS] } });
        const asNode = configSchema.safeParse({ labels: { prefix, tagPrefix, wellKnown, extras: [...EXTRAS] }, kube: { identity: 'node' } });
        expect(asNode.success).toBe(asAccount.success);
        fc.pre(asNode.success);
        expect(nodeIdentityProblems(asNode.data!.labels)).toEqual([]);
        for (const key of Object.keys(render(EVERY_FIELD_DOCUMENT, asNode.data!.labels).labels)) expect(nodeMaySetLabel(key), key).toBe(true);
      }),
      RUNS,
    );
  });
});
