/**
 * A small DER (ASN.1 Distinguished Encoding Rules) encoder, and a decoder for reading structures
 * back. It covers what an X.509 certificate and a PKCS#7 SignedData need, nothing more.
 */

export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

/** The length octets: short form below 128, long form (0x80 | count, then big-endian) above. */
export function encodeLength(length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`bad DER length ${length}`);
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Tag, length, value. `tag` is the whole identifier octet (class, constructed bit, number < 31). */
export function tlv(tag: number, content: Uint8Array): Buffer {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xff || (tag & 0x1f) === 0x1f) throw new RangeError(`unsupported DER tag ${tag}`);
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

export const sequence = (...items: Uint8Array[]): Buffer => tlv(TAG.sequence, Buffer.concat(items));

/** SET OF: DER orders the elements by their encodings. */
export const set = (...items: Uint8Array[]): Buffer => tlv(TAG.set, Buffer.concat([...items].sort((a, b) => Buffer.compare(a, b))));

export const nullValue = (): Buffer => Buffer.from([TAG.null, 0x00]);

export const boolean = (value: boolean): Buffer => tlv(TAG.boolean, Buffer.from([value ? 0xff : 0x00]));

/** INTEGER in minimal two's complement. Buffers are read as unsigned big-endian magnitudes. */
export function integer(value: number | bigint | Uint8Array): Buffer {
  if (value instanceof Uint8Array) return tlv(TAG.integer, minimalUnsigned(Buffer.from(value)));
  if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new RangeError(`not a safe integer: ${value}`);
  let n = BigInt(value);
  const bytes: number[] = [];
  if (n >= 0n) {
    do {
      bytes.unshift(Number(n & 0xffn));
      n >>= 8n;
    } while (n > 0n);
    if (bytes[0]! & 0x80) bytes.unshift(0);
  } else {
    do {
      bytes.unshift(Number(n & 0xffn));
      n >>= 8n;
    } while (n < -1n);
    if (!(bytes[0]! & 0x80)) bytes.unshift(0xff);
  }
  return tlv(TAG.integer, Buffer.from(bytes));
}

function minimalUnsigned(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.length === 0 ? Buffer.from([0]) : magnitude.subarray(start);
  return trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
}

/** OBJECT IDENTIFIER from dotted notation, e.g. "1.2.840.113549.1.7.2". */
export function oid(dotted: string): Buffer {
  if (!/^[0-2](\.\d+)+$/.test(dotted)) throw new RangeError(`not an OID: ${dotted}`);
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const [first, second] = [arcs[0]!, arcs[1]!];
  if (first < 2n && second > 39n) throw new RangeError(`not an OID: ${dotted}`);
  const bytes: number[] = [];
  for (const arc of [first * 40n + second, ...arcs.slice(2)]) {
    const group: number[] = [];
    let n = arc;
    do {
      group.unshift(Number(n & 0x7fn) | (group.length ? 0x80 : 0));
      n >>= 7n;
    } while (n > 0n);
    bytes.push(...group);
  }
  return tlv(TAG.oid, Buffer.from(bytes));
}

export const octetString = (content: Uint8Array): Buffer => tlv(TAG.octetString, content);

/** BIT STRING of whole bytes (unused bits 0), as keys and signatures are. */
export const bitString = (content: Uint8Array): Buffer => tlv(TAG.bitString, Buffer.concat([Buffer.from([0]), content]));

export const utf8String = (text: string): Buffer => tlv(TAG.utf8String, Buffer.from(text, 'utf8'));

export function printableString(text: string): Buffer {
  if (!/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(text)) throw new RangeError(`not a PrintableString: ${text}`);
  return tlv(TAG.printableString, Buffer.from(text, 'latin1'));
}

/** X.509 rule: UTCTime (YYMMDDHHMMSSZ) for years 1950-2049, GeneralizedTime otherwise. */
export function time(date: Date): Buffer {
  const year = date.getUTCFullYear();
  const rest = [date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()]
    .map((n) => String(n).padStart(2, '0'))
    .join('');
  if (year >= 1950 && year < 2050) return tlv(TAG.utcTime, Buffer.from(`${String(year % 100).padStart(2, '0')}${rest}Z`, 'latin1'));
  return tlv(TAG.generalizedTime, Buffer.from(`${String(year).padStart(4, '0')}${rest}Z`, 'latin1'));
}

/** [n] EXPLICIT: a constructed context-specific tag wrapping one whole encoding. */
export const explicit = (n: number, inner: Uint8Array): Buffer => tlv(0xa0 | n, inner);

/** [n] IMPLICIT on a constructed type (SET OF, SEQUENCE): its contents under a context tag. */
export const implicitConstructed = (n: number, contents: Uint8Array): Buffer => tlv(0xa0 | n, contents);

/** AlgorithmIdentifier with NULL parameters, as RSA and SHA-2 identifiers carry. */
export const algorithm = (dotted: string): Buffer => sequence(oid(dotted), nullValue());

// ---------------------------------------------------------------------------------------------
// Decoding

export interface DerNode {
  tag: number;
  /** The value octets. */
  content: Buffer;
  /** The whole encoding, tag and length included. */
  raw: Buffer;
  /** Parsed children of a constructed encoding. */
  children: DerNode[];
}

/** Decodes exactly one DER element spanning the whole input. Throws on malformed input. */
export function decode(input: Uint8Array): DerNode {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const { node, end } = decodeAt(buf, 0);
  if (end !== buf.length) throw new Error(`DER: ${buf.length - end} trailing bytes`);
  return node;
}

function decodeAt(buf: Buffer, offset: number): { node: DerNode; end: number } {
  if (offset + 2 > buf.length) throw new Error('DER: truncated header');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new Error('DER: high tag numbers are not supported');
  let length = buf[offset + 1]!;
  let headerEnd = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 6) throw new Error('DER: unsupported length form');
    if (headerEnd + count > buf.length) throw new Error('DER: truncated length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[headerEnd + i]!;
    if (length < 0x80 || buf[headerEnd] === 0) throw new Error('DER: length not in minimal form');
    headerEnd += count;
  }
  const end = headerEnd + length;
  if (end > buf.length) throw new Error('DER: content runs past the end');
  const content = buf.subarray(headerEnd, end);
  const children: DerNode[] = [];
  if (tag & 0x20) {
    for (let at = 0; at < content.length; ) {
      const child = decodeAt(content, at);
      children.push(child.node);
      at = child.end;
    }
  }
  return { node: { tag, content, raw: buf.subarray(offset, end), children }, end };
}

/** Dotted notation of an OBJECT IDENTIFIER's content octets. */
export function decodeOid(content: Uint8Array): string {
  const arcs: bigint[] = [];
  let n = 0n;
  for (const byte of content) {
    n = (n << 7n) | BigInt(byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(n);
      n = 0n;
    }
  }
  const first = arcs.shift();
  if (first === undefined) throw new Error('DER: empty OID');
  const head = first < 80n ? [first / 40n, first % 40n] : [2n, first - 80n];
  return [...head, ...arcs].join('.');
}

/** Value of an INTEGER's content octets (two's complement). */
export function decodeInteger(content: Uint8Array): bigint {
  if (content.length === 0) throw new Error('DER: empty INTEGER');
  let n = 0n;
  for (const byte of content) n = (n << 8n) | BigInt(byte);
  return content[0]! & 0x80 ? n - (1n << BigInt(content.length * 8)) : n;
}
