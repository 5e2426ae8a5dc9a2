import { describe, expect, it } from 'vitest';
import { EXTRAS } from '../../src/config/schema.ts';
import { render } from '../../src/mapping/render.ts';
import { doc, labelsConfig, REGIONAL_WIRE, ZONAL_WIRE } from '../helpers/instanceDocuments.ts';

const P = 'imds-labeler.io';
const T = 'tags.imds-labeler.io';
const ALL_EXTRAS = [...EXTRAS];

describe('render: a document from an old api-version', () => {
  it('leaves the labels of fields newer than that version unknown, not absent', () => {
    const old = { ...doc(ZONAL_WIRE, { zone: '', azEnvironment: '', securityProfile: undefined }), apiVersion: '2017-08-01' };
    const desired = render(old, labelsConfig({ extras: ALL_EXTRAS }));
    expect(desired.unknownLabels).toEqual([
      `${P}/encryption-at-host`, `${P}/environment`, `${P}/eviction-policy`, `${P}/host-group`, `${P}/dedicated-host`, `${P}/physical-zone`,
      `${P}/priority`, `${P}/secure-boot`, `${P}/security-type`, `${P}/sub-fault-domain`, `${P}/vtpm`, `${P}/zone`,
    ].sort());
    for (const key of desired.unknownLabels!) expect(desired.labels[key], key).toBeUndefined();
    expect(desired.labels[`${P}/vm-size`]).toBe('Standard_D4s_v5');
  });

  it.each([['the configured version', '2025-04-07'], ['no version (a hand-built document)', undefined]])('with %s nothing is unknown', (_, apiVersion) => {
    expect(render({ ...doc(ZONAL_WIRE), apiVersion }, labelsConfig({ extras: ALL_EXTRAS })).unknownLabels).toBeUndefined();
  });
});

describe('render: the default labels', () => {
  it('maps a zonal VM', () => {
    expect(render(doc(ZONAL_WIRE), labelsConfig())).toEqual({
      labels: {
        [`${P}/environment`]: 'AzurePublicCloud',
        [`${P}/fault-domain`]: '0',
        [`${P}/region`]: 'westeurope',
        [`${P}/update-domain`]: '3',
        [`${P}/vm-size`]: 'Standard_D4s_v5',
        [`${P}/zone`]: '2',
        [`${T}/env`]: 'prod',
        [`${T}/team`]: 'payments',
      },
      annotations: { [`${P}/tags`]: '[{"name":"env","value":"prod"},{"name":"team","value":"payments"}]' },
      skipped: [],
      problems: [],
    });
  });

  it('maps the spec\'s regional sample: no zone label, legacy tags, canonical environment', () => {
    expect(render(doc(REGIONAL_WIRE), labelsConfig())).toEqual({
      labels: {
        [`${P}/environment`]: 'AzurePublicCloud',
        [`${P}/fault-domain`]: '36',
        [`${P}/region`]: 'westus',
        [`${P}/update-domain`]: '42',
        [`${P}/vm-size`]: 'Standard_A3',
        [`${T}/baz`]: 'bash',
        [`${T}/foo`]: 'bar',
      },
      annotations: { [`${P}/tags`]: '[{"name":"baz","value":"bash"},{"name":"foo","value":"bar"}]' },
      skipped: [],
      problems: [],
    });
  });

  it.each([
    ['fault-domain', { platformFaultDomain: '7' }, '7'],
    ['fault-domain', { platformFaultDomain: '' }, undefined],
    ['update-domain', { platformUpdateDomain: '19' }, '19'],
    ['update-domain', { platformUpdateDomain: undefined }, undefined],
    ['zone', { zone: '1' }, '1'],
    ['zone', { zone: '' }, undefined],
    ['region', { location: 'WestEurope' }, 'westeurope'],
    ['region', { location: '' }, undefined],
    ['vm-size', { vmSize: 'Standard_NC24ads_A100_v4' }, 'Standard_NC24ads_A100_v4'],
    ['vm-size', { vmSize: '' }, undefined],
    ['environment', { azEnvironment: 'AzurePublicCloud' }, 'AzurePublicCloud'],
    ['environment', { azEnvironment: 'AZUREPUBLICCLOUD' }, 'AzurePublicCloud'],
    ['environment', { azEnvironment: 'azurepubliccloud' }, 'AzurePublicCloud'],
    ['environment', { azEnvironment: 'AZUREUSGOVERNMENTCLOUD' }, 'AzureUSGovernmentCloud'],
    ['environment', { azEnvironment: 'azureusgovernmentcloud' }, 'AzureUSGovernmentCloud'],
    ['environment', { azEnvironment: 'AzureChinaCloud' }, 'AzureChinaCloud'],
    ['environment', { azEnvironment: 'AZURECHINACLOUD' }, 'AzureChinaCloud'],
    ['environment', { azEnvironment: 'azureGermanCloud' }, 'AzureGermanCloud'],
    ['environment', { azEnvironment: 'AzureStackCloud' }, 'AzureStackCloud'],
    ['environment', { azEnvironment: 'Azure Stack' }, undefined],
    ['environment', { azEnvironment: '' }, undefined],
  ])('%s from %j → %j', (name, compute, expected) => {
    expect(render(doc(ZONAL_WIRE, compute), labelsConfig()).labels[`${P}/${name}`]).toBe(expected);
  });

  it('writes no optional or well-known label by default', () => {
    const keys = Object.keys(render(doc(ZONAL_WIRE), labelsConfig()).labels);
    expect(keys.filter((k) => k.startsWith(`${P}/`)).sort()).toEqual(
      ['environment', 'fault-domain', 'region', 'update-domain', 'vm-size', 'zone'].map((n) => `${P}/${n}`),
    );
    expect(keys.some((k) => k.includes('kubernetes.io'))).toBe(false);
  });
});

describe('render: extras', () => {
  const cases = [
    ['spot', { [`${P}/priority`]: 'Spot', [`${P}/eviction-policy`]: 'Delete' }],
    ['security', { [`${P}/security-type`]: 'TrustedLaunch', [`${P}/secure-boot`]: 'true', [`${P}/vtpm`]: 'false', [`${P}/encryption-at-host`]: 'true' }],
    ['physicalZone', { [`${P}/physical-zone`]: 'westeurope-AZ02' }],
    ['subFaultDomain', { [`${P}/sub-fault-domain`]: '1' }],
    ['osType', { [`${P}/os-type`]: 'linux' }],
    ['hostGroup', { [`${P}/host-group`]: 'hg-1', [`${P}/dedicated-host`]: 'host-7' }],
  ] as const;

  it.each(cases)('%s on adds exactly its labels', (extra, labels) => {
    const base = render(doc(ZONAL_WIRE), labelsConfig()).labels;
    const withExtra = render(doc(ZONAL_WIRE), labelsConfig({ extras: [extra] })).labels;
    expect(withExtra).toEqual({ ...base, ...labels });
  });

  it('covers every extra of the config schema', () => {
    expect(cases.map(([e]) => e).sort()).toEqual([...EXTRAS].sort());
  });

  it.each([
    [{ priority: 'Regular', evictionPolicy: '' }, { [`${P}/priority`]: 'Regular' }],
    [{ securityProfile: { secureBootEnabled: 'FALSE', virtualTpmEnabled: 'True' } }, { [`${P}/secure-boot`]: 'false', [`${P}/vtpm`]: 'true' }],
    [{ securityProfile: { securityType: 'ConfidentialVM', encryptionAtHost: 'false' } }, { [`${P}/security-type`]: 'ConfidentialVM', [`${P}/encryption-at-host`]: 'false' }],
    [{ osType: 'Windows' }, { [`${P}/os-type`]: 'windows' }],
    [{ hostGroup: { id: '' }, host: { id: '' } }, {}],
    [{ hostGroup: { id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/hostGroups/Group One' } }, {}],
    [{ physicalZone: '', platformSubFaultDomain: '' }, {}],
  ])('values: %j', (compute, expected) => {
    const extras = ['spot', 'security', 'osType', 'hostGroup', 'physicalZone', 'subFaultDomain'] as const;
    const fields = Object.keys(compute);
    const blank = Object.fromEntries(
      ['priority', 'evictionPolicy', 'securityProfile', 'osType', 'hostGroup', 'host', 'physicalZone', 'platformSubFaultDomain'].filter((f) => !fields.includes(f)).map((f) => [f, undefined]),
    );
    const labels = render(doc(ZONAL_WIRE, { ...blank, ...compute }), labelsConfig({ extras: [...extras] })).labels;
    const base = render(doc(ZONAL_WIRE), labelsConfig()).labels;
    expect(labels).toEqual({ ...base, ...expected });
  });
});

describe('render: well-known labels (opt-in)', () => {
  it.each([
    ['zonal', doc(ZONAL_WIRE), { 'topology.kubernetes.io/zone': 'westeurope-2', 'topology.kubernetes.io/region': 'westeurope', 'node.kubernetes.io/instance-type': 'Standard_D4s_v5' }],
    ['regional', doc(REGIONAL_WIRE), { 'topology.kubernetes.io/zone': '36', 'topology.kubernetes.io/region': 'westus', 'node.kubernetes.io/instance-type': 'Standard_A3' }],
    ['zonal, location in capitals', doc(ZONAL_WIRE, { location: 'WestEurope', zone: '3' }), { 'topology.kubernetes.io/zone': 'westeurope-3', 'topology.kubernetes.io/region': 'westeurope', 'node.kubernetes.io/instance-type': 'Standard_D4s_v5' }],
    ['zonal without location', doc(ZONAL_WIRE, { location: '' }), { 'node.kubernetes.io/instance-type': 'Standard_D4s_v5' }],
    ['regional without fault domain', doc(REGIONAL_WIRE, { platformFaultDomain: '' }), { 'topology.kubernetes.io/region': 'westus', 'node.kubernetes.io/instance-type': 'Standard_A3' }],
  ])('%s', (_, document, expected) => {
    const on = render(document, labelsConfig({ wellKnown: true })).labels;
    const off = render(document, labelsConfig()).labels;
    expect(on).toEqual({ ...off, ...expected });
  });
});

describe('render: values IMDS sends that cannot be labels', () => {
  it.each([
    ['vmSize', 'Standard D4s v5', `${P}/vm-size`, 'invalid-value'],
    ['vmSize', `Standard_${'D'.repeat(60)}`, `${P}/vm-size`, 'value-too-long'],
    ['location', 'West Europe', `${P}/region`, 'invalid-value'],
    ['zone', 'zone 1', `${P}/zone`, 'invalid-value'],
    ['azEnvironment', 'Azure🙂Cloud', `${P}/environment`, 'invalid-value'],
  ])('%s %j: %s left out, reported as %s', (field, value, key, reason) => {
    const desired = render(doc(ZONAL_WIRE, { [field]: value }), labelsConfig());
    expect(desired.labels).not.toHaveProperty(key);
    expect(desired.problems).toEqual([expect.objectContaining({ key, field: `compute.${field}`, reason })]);
    expect(desired.problems?.[0]?.message).toMatch(new RegExp(`^${key} left out: ".*" \\(from compute.${field}\\)`));
  });

  it('reports well-known labels too, when they are on', () => {
    const desired = render(doc(ZONAL_WIRE, { vmSize: 'a b' }), labelsConfig({ wellKnown: true }));
    expect(desired.problems?.map((p) => p.key)).toEqual([`${P}/vm-size`, 'node.kubernetes.io/instance-type']);
  });
});

describe('render: tags', () => {
  it('omits the tags annotation when no tag passes the filter', () => {
    expect(render(doc(ZONAL_WIRE, { tagsList: [] }), labelsConfig()).annotations).toEqual({});
    expect(render(doc(ZONAL_WIRE), labelsConfig({ tags: { exclude: ['*'] } })).annotations).toEqual({});
  });

  it('keeps tags that cannot be labels in the annotation, and lists them as skipped', () => {
    const tagsList = [
      { name: 'kubernetes.io/role', value: 'master' },
      { name: 'Cost Center', value: 'R&D' },
      { name: 'owner', value: 'Jane Doe' },
      { name: 'x'.repeat(512), value: 'v' },
      { name: 'long', value: 'y'.repeat(256) },
      { name: 'empty', value: '' },
      { name: '🙂', value: '직급' },
    ];
    const desired = render(doc(ZONAL_WIRE, { tagsList }), labelsConfig());
    expect(Object.keys(desired.labels).filter((k) => k.startsWith(`${T}/`))).toEqual([`${T}/empty`]);
    expect(desired.labels[`${T}/empty`]).toBe('');
    expect(JSON.parse(desired.annotations[`${P}/tags`]!)).toHaveLength(tagsList.length);
    expect(desired.skipped).toEqual([
      { tag: 'Cost Center', reason: 'invalid-name' },
      { tag: 'kubernetes.io/role', reason: 'invalid-name' },
      { tag: 'long', reason: 'value-too-long' },
      { tag: 'owner', reason: 'invalid-value' },
      { tag: 'x'.repeat(512), reason: 'name-too-long' },
      { tag: '🙂', reason: 'invalid-name' },
    ]);
  });

  it('uses the configured tag prefix', () => {
    const labels = render(doc(ZONAL_WIRE), labelsConfig({ prefix: 'example.com', tagPrefix: 'vmtags.example.com' })).labels;
    expect(labels['vmtags.example.com/team']).toBe('payments');
    expect(labels['example.com/zone']).toBe('2');
  });

  it('defaults the tag prefix to tags.<prefix>', () => {
    expect(render(doc(ZONAL_WIRE), labelsConfig({ prefix: 'example.com' })).labels['tags.example.com/team']).toBe('payments');
  });

  it('does not let a tag take an IMDS field\'s key when both prefixes are the same', () => {
    const desired = render(doc(ZONAL_WIRE, { tagsList: [{ name: 'zone', value: '9' }, { name: 'team', value: 'a' }] }), labelsConfig({ prefix: 'p.io', tagPrefix: 'p.io' }));
    expect(desired.labels['p.io/zone']).toBe('2');
    expect(desired.labels['p.io/team']).toBe('a');
    expect(desired.skipped).toEqual([{ tag: 'zone', reason: 'reserved-name' }]);
  });

  it('caps the annotation and records what was left out', () => {
    const tagsList = [{ name: 'a', value: 'x' }, { name: 'b', value: 'y'.repeat(500) }];
    const desired = render(doc(ZONAL_WIRE, { tagsList }), labelsConfig(), { tagsAnnotationMaxBytes: 200 });
    expect(desired.annotations).toEqual({ [`${P}/tags`]: '[{"name":"a","value":"x"}]', [`${P}/tags-omitted`]: '1' });
    expect(desired.problems).toEqual([expect.objectContaining({ key: `${P}/tags`, field: 'compute.tagsList', reason: 'annotation-too-large' })]);
    expect(desired.problems?.[0]?.message).toMatch(/^1 of 2 tags left out/);
  });

  it('holds Azure\'s largest tag set (50 tags of 512/256 characters) under the default cap', () => {
    const tagsList = Array.from({ length: 50 }, (_, i) => ({ name: `${i}`.padStart(512, 'n'), value: 'v'.repeat(256) }));
    const desired = render(doc(ZONAL_WIRE, { tagsList }), labelsConfig());
    expect(JSON.parse(desired.annotations[`${P}/tags`]!)).toHaveLength(50);
    expect(desired.annotations).not.toHaveProperty(`${P}/tags-omitted`);
  });
});

describe('render: determinism and purity', () => {
  it('does not depend on the order of tags', () => {
    const tagsList = [{ name: 'b', value: '1' }, { name: 'A', value: '2' }, { name: 'a', value: '3' }, { name: 'c d', value: '4' }];
    const one = render(doc(ZONAL_WIRE, { tagsList }), labelsConfig());
    const two = render(doc(ZONAL_WIRE, { tagsList: [...tagsList].reverse() }), labelsConfig());
    expect(JSON.stringify(two)).toBe(JSON.stringify(one));
  });
  it('returns keys in sorted order', () => {
    const { labels } = render(doc(ZONAL_WIRE), labelsConfig({ extras: ALL_EXTRAS, wellKnown: true }));
    expect(Object.keys(labels)).toEqual(Object.keys(labels).sort());
  });
  it('does not modify its input', () => {
    const document = doc(ZONAL_WIRE);
    const copy = structuredClone(document);
    render(document, labelsConfig({ extras: ALL_EXTRAS, wellKnown: true }));
    expect(document).toEqual(copy);
  });
  it('refuses a prefix that did not pass the config schema', () => {
    expect(() => render(doc(ZONAL_WIRE), { ...labelsConfig(), prefix: 'Not A Prefix' })).toThrow(/labels.prefix/);
    expect(() => render(doc(ZONAL_WIRE), { ...labelsConfig(), tagPrefix: 'bad/prefix' })).toThrow(/labels.tagPrefix/);
  });
});
