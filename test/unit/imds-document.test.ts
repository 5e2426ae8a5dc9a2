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

  it('names the field of a document it cannot read', () => {
    expect(() => parseInstanceDocument({ compute: 'not an object' })).toThrow(DocumentError);
    expect(() => parseInstanceDocument({ compute: 'not an object' })).toThrow(/compute/);
  });
});
