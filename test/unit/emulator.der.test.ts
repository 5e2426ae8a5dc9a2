import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as der from '../../testbed/imds-emulator/der.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('DER encoder', () => {
  it.each([
    [0, '020100'],
    [1, '020101'],
    [127, '02017f'],
    [128, '02020080'],
    [255, '020200ff'],
    [256, '02020100'],
    [-1, '0201ff'],
    [-128, '020180'],
    [-129, '0202ff7f'],
    [-256, '0202ff00'],
    [-32768, '02028000'],
    [65535, '020300ffff'],
  ])('INTEGER %i is %s', (value, expected) => {
    expect(hex(der.integer(value))).toBe(expected);
    expect(hex(der.integer(BigInt(value)))).toBe(expected);
  });

  it.each([
    ['00', '020100'],
    ['0000ff', '020200ff'],
    ['7f', '02017f'],
    ['80', '02020080'],
    ['', '020100'],
  ])('INTEGER from unsigned bytes %s is %s', (bytes, expected) => {
    expect(hex(der.integer(Buffer.from(bytes, 'hex')))).toBe(expected);
  });

  it.each([
    [0, '00'],
    [127, '7f'],
    [128, '8180'],
    [200, '81c8'],
    [255, '81ff'],
    [256, '820100'],
    [300, '82012c'],
    [65536, '83010000'],
  ])('length %i is %s', (length, expected) => {
    expect(hex(der.encodeLength(length))).toBe(expected);
  });

  it.each([
    ['1.2.840.113549', '06062a864886f70d'],
    ['1.2.840.113549.1.7.2', '06092a864886f70d010702'],
    ['2.16.840.1.101.3.4.2.1', '0609608648016503040201'],
    ['2.5.4.3', '0603550403'],
    ['2.999.3', '0603883703'],
  ])('OID %s is %s', (dotted, expected) => {
    expect(hex(der.oid(dotted))).toBe(expected);
    expect(der.decodeOid(der.decode(der.oid(dotted)).content)).toBe(dotted);
  });

  it.each(['1', '3.1', '1.40', '1..2', 'a.b', ''])('rejects the OID %j', (dotted) => {
    expect(() => der.oid(dotted)).toThrow(RangeError);
  });

  it('encodes the primitive types', () => {
    expect(hex(der.nullValue())).toBe('0500');
    expect(hex(der.boolean(true))).toBe('0101ff');
    expect(hex(der.boolean(false))).toBe('010100');
    expect(hex(der.octetString(Buffer.from('hi')))).toBe('04026869');
    expect(hex(der.bitString(Buffer.from([0xab])))).toBe('030200ab');
    expect(hex(der.utf8String('é'))).toBe('0c02c3a9');
    expect(hex(der.printableString('A b'))).toBe('1303412062');
    expect(() => der.printableString('a@b')).toThrow(RangeError);
    expect(hex(der.sequence())).toBe('3000');
    expect(hex(der.explicit(0, der.integer(2)))).toBe('a003020102');
    expect(hex(der.implicitConstructed(0, der.nullValue()))).toBe('a0020500');
    expect(hex(der.algorithm('2.5.4.3'))).toBe('300706035504030500');
  });

  it('orders SET OF elements by their encodings', () => {
    expect(hex(der.set(der.integer(3), der.integer(1), der.integer(2)))).toBe('3109020101020102020103');
    expect(hex(der.set(der.octetString(Buffer.from([2])), der.integer(1)))).toBe('3106020101040102');
  });

  it.each([
    [Date.UTC(2025, 0, 2, 3, 4, 5), '170d3235303130323033303430355a'],
    [Date.UTC(1999, 11, 31, 23, 59, 59), '170d3939313233313233353935395a'],
    [Date.UTC(2050, 0, 1, 0, 0, 0), '180f32303530303130313030303030305a'],
    [Date.UTC(1949, 11, 31, 0, 0, 0), '180f31393439313233313030303030305a'],
  ])('time %i is %s (UTCTime before 2050, GeneralizedTime from then)', (ms, expected) => {
    expect(hex(der.time(new Date(ms)))).toBe(expected);
  });

  it('uses the long length form for long contents', () => {
    const encoded = der.octetString(Buffer.alloc(300, 1));
    expect(hex(encoded.subarray(0, 4))).toBe('0482012c');
    expect(encoded.length).toBe(304);
  });
});

describe('DER decoder', () => {
  it('reads back a nested structure', () => {
    const encoded = der.sequence(der.integer(5), der.set(der.oid('1.2.3')), der.explicit(1, der.octetString(Buffer.from('x'))));
    const root = der.decode(encoded);
    expect(root.tag).toBe(0x30);
    expect(root.children.map((c) => c.tag)).toEqual([0x02, 0x31, 0xa1]);
    expect(der.decodeInteger(root.children[0]!.content)).toBe(5n);
    expect(der.decodeOid(root.children[1]!.children[0]!.content)).toBe('1.2.3');
    expect(root.children[2]!.children[0]!.content.toString()).toBe('x');
    expect(Buffer.compare(root.raw, encoded)).toBe(0);
  });

  it.each([
    ['truncated header', '30'],
    ['content past the end', '3005020101'],
    ['trailing bytes', '02010100'],
    ['non-minimal long length', '048101ff'],
    ['indefinite length', '3080'],
    ['high tag number', '1f0100'],
  ])('rejects %s', (_name, input) => {
    expect(() => der.decode(Buffer.from(input, 'hex'))).toThrow(/DER/);
  });

  it('round-trips any integer', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(1n << 200n), max: 1n << 200n }), (n) => {
        const node = der.decode(der.integer(n));
        expect(der.decodeInteger(node.content)).toBe(n);
        // Minimal: no redundant leading 0x00 or 0xff.
        if (node.content.length > 1) {
          const [a, b] = [node.content[0]!, node.content[1]!];
          expect((a === 0x00 && (b & 0x80) === 0) || (a === 0xff && (b & 0x80) !== 0)).toBe(false);
        }
      }),
    );
  });

  it('round-trips any length and any OID', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 70_000 }), (length) => {
        const node = der.decode(der.octetString(Buffer.alloc(length)));
        expect(node.content.length).toBe(length);
      }),
      { numRuns: 50 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 39 }), fc.array(fc.bigInt({ min: 0n, max: 1n << 70n })), (a, b, rest) => {
        const dotted = [a, b, ...rest].join('.');
        expect(der.decodeOid(der.decode(der.oid(dotted)).content)).toBe(dotted);
      }),
    );
  });
});
