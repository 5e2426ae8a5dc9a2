import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseInstanceDocument } from '../../src/imds/document.ts';
import { FIXTURE_NAMES, FixtureError, builtInFixture, fixtureSource, toFixture, type FixtureName } from '../../testbed/imds-emulator/fixtures.ts';
import { documentForVersion } from '../../testbed/imds-emulator/availability.ts';

/** Every primitive in the document, with its path. */
function primitives(value: unknown, path = ''): [string, unknown][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => primitives(v, `${path}[${i}]`));
  if (typeof value === 'object' && value !== null) return Object.entries(value).flatMap(([k, v]) => primitives(v, path ? `${path}.${k}` : k));
  return [[path, value]];
}

const instanceOf = (name: FixtureName) => toFixture(builtInFixture(name)).instance;

describe('built-in fixtures', () => {
  it('are the six documented ones', () => {
    expect([...FIXTURE_NAMES].sort()).toEqual(['dedicated-host', 'default', 'regional', 'scale-set', 'spot', 'tag-edge-cases']);
  });

  it.each(FIXTURE_NAMES)('%s parses with the agent schema, at every field', (name) => {
    const doc = parseInstanceDocument(instanceOf(name));
    expect(doc.compute.vmSize).toMatch(/^Standard_/);
    expect(doc.compute.location).toBeTruthy();
    expect(doc.compute.tagsList?.length).toBeGreaterThan(0);
  });

  it.each(FIXTURE_NAMES)('%s holds only strings, as on the wire', (name) => {
    for (const [path, value] of primitives(instanceOf(name))) expect(typeof value, path).toBe('string');
  });

  it.each(FIXTURE_NAMES)('%s: tags is the ;-joined form of tagsList', (name) => {
    const { compute } = instanceOf(name) as { compute: { tags: string; tagsList: { name: string; value: string }[] } };
    expect(compute.tags).toBe(compute.tagsList.map((t) => `${t.name}:${t.value}`).join(';'));
  });

  it.each(FIXTURE_NAMES)('%s: builtInFixture returns a fresh copy', (name) => {
    const a = builtInFixture(name) as { compute: { vmSize: string } };
    a.compute.vmSize = 'changed';
    expect((builtInFixture(name) as { compute: { vmSize: string } }).compute.vmSize).not.toBe('changed');
  });

  it('default is the article sample, zonal, with compute and network', () => {
    const doc = parseInstanceDocument(instanceOf('default'));
    expect(doc.compute).toMatchObject({
      zone: '1', platformFaultDomain: 0, platformUpdateDomain: 0, vmSize: 'Standard_A3', location: 'westus',
      azEnvironment: 'AZUREPUBLICCLOUD', vmScaleSetName: 'crpteste9vflji9', tags: 'baz:bash;foo:bar',
    });
    expect(doc.compute.tagsList).toEqual([{ name: 'baz', value: 'bash' }, { name: 'foo', value: 'bar' }]);
    expect(doc.network).toMatchObject({ interface: [{ macAddress: '0011AAFFBB22' }] });
  });

  it('regional has no zone and a fault domain above 0', () => {
    const doc = parseInstanceDocument(instanceOf('regional'));
    expect(doc.compute.zone).toBeUndefined();
    expect((instanceOf('regional').compute as { zone: string }).zone).toBe('');
    expect(doc.compute.platformFaultDomain).toBeGreaterThan(0);
    expect(doc.compute.vmScaleSetName).toBeUndefined();
  });

  it('spot is a Spot VM evicted by deallocation, with a Preempt event', () => {
    const raw = builtInFixture('spot');
    const doc = parseInstanceDocument(toFixture(raw).instance);
    expect(doc.compute).toMatchObject({ priority: 'Spot', evictionPolicy: 'Deallocate' });
    const { scheduledEvents } = toFixture(raw);
    expect(scheduledEvents?.Events).toEqual([expect.objectContaining({ EventType: 'Preempt', Resources: [doc.compute.name] })]);
  });

  it('dedicated-host has a host and a host group', () => {
    const doc = parseInstanceDocument(instanceOf('dedicated-host'));
    expect(doc.compute.host?.id).toMatch(/\/hostGroups\/hostgroup-1\/hosts\/host-a$/);
    expect(doc.compute.hostGroup?.id).toMatch(/\/hostGroups\/hostgroup-1$/);
  });

  it('scale-set has a scale set name and a placement group', () => {
    const doc = parseInstanceDocument(instanceOf('scale-set'));
    expect(doc.compute.vmScaleSetName).toBe('aks-nodepool1-12345678-vmss');
    expect(doc.compute.placementGroupId).toMatch(/^[0-9a-f-]{36}$/);
    expect(doc.compute.platformFaultDomain).toBe(0);
  });

  it('tag-edge-cases covers every awkward tag', () => {
    const tags = parseInstanceDocument(instanceOf('tag-edge-cases')).compute.tagsList!;
    const names = tags.map((t) => t.name);
    const values = tags.map((t) => t.value);
    for (const ch of [';', ':', '/', ' ']) expect(names.some((n) => n.includes(ch)), `name with ${ch}`).toBe(true);
    for (const ch of [';', ':', '=', '/', ' ']) expect(values.some((v) => v.includes(ch)), `value with ${ch}`).toBe(true);
    expect(names.some((n) => /[^\x00-\x7f]/.test(n) && !/\p{Extended_Pictographic}/u.test(n))).toBe(true); // unicode
    expect(names.some((n) => /\p{Extended_Pictographic}/u.test(n))).toBe(true); // emoji name
    expect(values.some((v) => /\p{Extended_Pictographic}/u.test(v))).toBe(true); // emoji value
    expect(names.some((n) => n.length === 512)).toBe(true);
    expect(values.some((v) => v.length === 256)).toBe(true);
    expect(values).toContain('');
    expect(names).toContain('kubernetes.io/role');
    const lower = names.map((n) => n.toLowerCase());
    expect(lower.length - new Set(lower).size).toBeGreaterThanOrEqual(1); // names that differ only in case
    expect(new Set(names).size).toBe(names.length); // but no exact duplicates
  });
});

describe('fixture sources', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'emulator-fixtures-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads JSON and YAML files', () => {
    writeFileSync(join(dir, 'vm.json'), JSON.stringify({ compute: { vmSize: 'Standard_J' } }));
    writeFileSync(join(dir, 'vm.yaml'), 'compute:\n  vmSize: Standard_Y\n  zone: "2"\n');
    expect(fixtureSource(join(dir, 'vm.json')).poll().fixture.instance).toEqual({ compute: { vmSize: 'Standard_J' } });
    expect(fixtureSource(join(dir, 'vm.yaml')).poll().fixture.instance).toEqual({ compute: { vmSize: 'Standard_Y', zone: '2' } });
  });

  it('splits the scheduledEvents section off the instance document', () => {
    const f = toFixture({ compute: {}, scheduledEvents: { Events: [{ EventId: 'e1' }] } });
    expect(f.instance).toEqual({ compute: {} });
    expect(f.scheduledEvents).toEqual({ DocumentIncarnation: 0, Events: [{ EventId: 'e1' }] });
  });

  it('re-reads a file when it changes, and keeps the last good one when a change does not parse', () => {
    const path = join(dir, 'vm.json');
    writeFileSync(path, JSON.stringify({ compute: { vmSize: 'one' } }));
    const source = fixtureSource(path);
    expect(source.poll()).toMatchObject({ changed: false, fixture: { instance: { compute: { vmSize: 'one' } } } });
    writeFileSync(path, JSON.stringify({ compute: { vmSize: 'two, longer' } }));
    expect(source.poll()).toMatchObject({ changed: true, fixture: { instance: { compute: { vmSize: 'two, longer' } } } });
    writeFileSync(path, '{"compute": ');
    const broken = source.poll();
    expect(broken.error).toBeInstanceOf(FixtureError);
    expect(broken.fixture.instance).toEqual({ compute: { vmSize: 'two, longer' } });
  });

  it.each<[string, () => unknown, RegExp]>([
    ['an unknown name that is no file', () => fixtureSource('no-such-fixture'), /neither a built-in fixture \(default, .*\) nor a file/],
    ['a file that is not JSON', () => (writeFileSync(join(dir, 'bad.json'), '{'), fixtureSource(join(dir, 'bad.json'))), /bad\.json: not valid JSON/],
    ['a document that is an array', () => fixtureSource([] as unknown as object), /a fixture is a JSON or YAML object/],
    ['a YAML scalar', () => (writeFileSync(join(dir, 'x.yaml'), 'hello'), fixtureSource(join(dir, 'x.yaml'))), /a fixture is a JSON or YAML object/],
    ['a bad scheduledEvents section', () => toFixture({ scheduledEvents: { Events: [{}] } }), /scheduledEvents\.Events\.0\.EventId/],
  ])('rejects %s', (_name, load, message) => {
    expect(load).toThrow(FixtureError);
    expect(load).toThrow(message);
  });
});

describe('field availability by api-version', () => {
  const doc = instanceOf('default');
  it.each<[string, string, boolean]>([
    ['tagsList', '2019-06-01', false],
    ['tagsList', '2019-06-04', true],
    ['tags', '2017-04-02', false],
    ['tags', '2017-08-01', true],
    ['zone', '2017-10-01', false],
    ['zone', '2017-12-01', true],
    ['physicalZone', '2023-07-01', false],
    ['physicalZone', '2023-11-15', true],
    ['priority', '2020-10-01', false],
    ['priority', '2020-12-01', true],
    ['host', '2021-11-01', false],
    ['host', '2021-11-15', true],
    ['vmSize', '2017-03-01', true],
  ])('compute.%s at %s: %s', (field, version, present) => {
    const compute = documentForVersion(doc, version).compute as Record<string, unknown>;
    expect(field in compute).toBe(present);
  });

  it('prunes nested fields, and leaves unknown ones alone', () => {
    const compute = documentForVersion({ compute: { securityProfile: { secureBootEnabled: 'true', securityType: 'x' }, futureField: '1' } }, '2021-11-15')
      .compute as Record<string, Record<string, string>>;
    expect(compute.securityProfile).toEqual({ secureBootEnabled: 'true' });
    expect(compute.futureField).toBe('1');
  });

  it('matches field names case-insensitively', () => {
    const compute = documentForVersion({ compute: { Priority: 'Spot', TAGSLIST: [] } }, '2019-06-01').compute;
    expect(compute).toEqual({});
  });

  it('does not change the fixture', () => {
    documentForVersion(doc, '2017-04-02');
    expect((doc.compute as Record<string, unknown>).tagsList).toBeDefined();
  });
});
