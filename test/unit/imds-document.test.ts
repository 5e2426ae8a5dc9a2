import { describe, expect, it } from 'vitest';
import { canonicalizeKeys, DocumentError, parseInstanceDocument } from '../../src/imds/document.ts';

describe('canonicalizeKeys', () => {
  it.each<[string, unknown, unknown]>([
    ['a case variant of a known key', { Compute: { VMSize: 'Standard_D2s_v5' } }, { compute: { vmSize: 'Standard_D2s_v5' } }],
    ['known keys at any depth', { compute: { TagsList: [{ NAME: 'env', Value: 'prod' }] } }, { compute: { tagsList: [{ name: 'env', value: 'prod' }] } }],
    ['the exact spelling over a case variant', { compute: { vmsize: 'A', vmSize: 'B', VMSIZE: 'C' } }, { compute: { vmSize: 'B' } }],
    ['unknown keys as they are', { compute: { SomethingNew: 1 } }, { compute: { SomethingNew: 1 } }],
    ['scalars and arrays', [1, 'a', null], [1, 'a', null]],
  ])('rewrites %s', (_name, input, expected) => expect(canonicalizeKeys(input)).toEqual(expected));

  it('leaves the network section alone, without copying it', () => {
    const network = { Interface: [{ ipv4: { ipAddress: [{ privateIpAddress: '10.0.0.4' }] } }] };
    const out = canonicalizeKeys({ Network: network, compute: {} }) as { network: unknown };
    expect(out.network).toBe(network);
  });
});

describe('parseInstanceDocument', () => {
  it('keeps network as it came, and reads compute whatever the case of its keys', () => {
    const network = { interface: Array.from({ length: 3 }, (_, i) => ({ ipv4: { ipAddress: [{ privateIpAddress: `10.0.0.${i}` }] } })) };
    const doc = parseInstanceDocument({ Compute: { VMSize: 'Standard_D2s_v5', Location: 'westeurope' }, network });
    expect(doc.compute.vmSize).toBe('Standard_D2s_v5');
    expect(doc.network).toEqual(network);
  });

  const base = { location: 'westeurope', vmSize: 'Standard_D2s_v5' };
  it.each<[string, unknown, string[], string]>([
    ['not an object', [], ['(document): Invalid input: expected object, received array'], 'schema'],
    ['null', null, ['(document): Invalid input: expected object, received null'], 'schema'],
    ['no compute', {}, ['compute: Invalid input: expected object, received undefined'], 'schema'],
    ['a number where text goes', { compute: { ...base, zone: 5 } }, ['compute.zone: Invalid input: expected string, received number'], 'schema'],
    ['a domain that is no whole number', { compute: { ...base, platformFaultDomain: '-1' } }, ['compute.platformFaultDomain: expected a whole number as a string, such as "2"'], 'schema'],
    ['a negative integer past 2^53 (two rules broken)', { compute: { ...base, platformFaultDomain: -(2 ** 60) } }, Array(2).fill('compute.platformFaultDomain: expected a whole number as a string, such as "2"'), 'schema'],
    ['a flag that is neither true nor false', { compute: { ...base, securityProfile: { secureBootEnabled: 'yes' } } }, ['compute.securityProfile.secureBootEnabled: expected "true" or "false"'], 'schema'],
    ['"" where an object goes', { compute: { ...base, securityProfile: '', host: null } }, ['compute.securityProfile: Invalid input: expected object, received string', 'compute.host: Invalid input: expected object, received null'], 'schema'],
    ['tags that are no list, and a tag without a name', { compute: { ...base, tagsList: [{ value: 'v' }, 'x'] } }, ['compute.tagsList.0.name: Invalid input: expected string, received undefined', 'compute.tagsList.1: Invalid input: expected object, received string'], 'schema'],
    ['an empty compute', { compute: {} }, ['compute.location: missing or empty, and every VM has it', 'compute.vmSize: missing or empty, and every VM has it'], 'missing-fields'],
  ])('refuses %s, naming each problem and its path', (_name, json, issues, reason) => {
    const error = (() => {
      try {
        parseInstanceDocument(json);
      } catch (err) {
        return err as DocumentError;
      }
      throw new Error('parsed');
    })();
    expect(error).toBeInstanceOf(DocumentError);
    expect([error.issues, error.reason]).toEqual([issues, reason]);
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ['digits, spaces around them too, as numbers', { platformFaultDomain: ' 7 ', platformUpdateDomain: '007' }, { platformFaultDomain: 7, platformUpdateDomain: 7 }],
    ['flags in any case', { securityProfile: { secureBootEnabled: 'TRUE', encryptionAtHost: 'False', extra: 1 } }, { securityProfile: { secureBootEnabled: true, encryptionAtHost: false } }],
    ['"" and null as absent', { zone: '', tags: null, platformFaultDomain: '' }, { zone: undefined, tags: undefined, platformFaultDomain: undefined }],
    ['a tag value of null as ""', { tagsList: [{ name: 'env', value: null }] }, { tagsList: [{ name: 'env', value: '' }] }],
    ['unknown fields left out', { somethingNew: 1 }, {}],
  ])('reads %s', (_name, fields, expected) => {
    expect(parseInstanceDocument({ compute: { ...base, ...fields } }).compute).toStrictEqual({ ...base, ...expected });
  });

  it('names the field of a document it cannot read', () => {
    expect(() => parseInstanceDocument({ compute: 'not an object' })).toThrow(DocumentError);
    expect(() => parseInstanceDocument({ compute: 'not an object' })).toThrow(/compute/);
  });
});
