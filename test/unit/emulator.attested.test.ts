import { X509Certificate, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OID, attestedTime, defaultNonce } from '../../testbed/imds-emulator/attested.ts';
import { decode, decodeInteger, decodeOid, type DerNode } from '../../testbed/imds-emulator/der.ts';
import { startEmulator, type Emulator } from '../../testbed/imds-emulator/server.ts';
import { imds } from '../helpers/emulator.ts';
import { FakeClock } from '../helpers/fakeClock.ts';

const START = Date.UTC(2025, 0, 15, 12, 0, 0);

/** The parts of a PKCS#7 SignedData that a verifier uses. */
function openSignedData(signature: Buffer) {
  const contentInfo = decode(signature);
  expect(contentInfo.tag).toBe(0x30);
  const [contentType, wrapped] = contentInfo.children as [DerNode, DerNode];
  expect(decodeOid(contentType.content)).toBe(OID.signedData);
  expect(wrapped.tag).toBe(0xa0);
  const signedData = wrapped.children[0]!;
  const [version, digestAlgorithms, encap, certificates, signerInfos] = signedData.children as DerNode[];
  expect(decodeInteger(version!.content)).toBe(1n);
  expect(decodeOid(digestAlgorithms!.children[0]!.children[0]!.content)).toBe(OID.sha256);
  expect(decodeOid(encap!.children[0]!.content)).toBe(OID.data);
  const content = encap!.children[1]!.children[0]!.content;
  expect(certificates!.tag).toBe(0xa0);
  const certificate = certificates!.children[0]!.raw;
  const signerInfo = signerInfos!.children[0]!;
  const [siVersion, sid, digestAlgorithm, signatureAlgorithm, signatureValue] = signerInfo.children as DerNode[];
  expect(decodeInteger(siVersion!.content)).toBe(1n);
  expect(decodeOid(digestAlgorithm!.children[0]!.content)).toBe(OID.sha256);
  expect(decodeOid(signatureAlgorithm!.children[0]!.content)).toBe(OID.rsaEncryption);
  return { content, certificate, sid: sid!, signatureValue: signatureValue!.content };
}

let emulator: Emulator;
let clock: FakeClock;
beforeAll(async () => {
  clock = new FakeClock(START);
  emulator = await startEmulator({ clock, rateLimitPerSecond: 0 });
});
afterAll(() => emulator.close());

async function attested(query: string) {
  const res = await imds(emulator.url, `/metadata/attested/document?${query}`);
  return res;
}

async function signed(query: string) {
  const res = await attested(query);
  expect(res.status).toBe(200);
  const body = JSON.parse(res.body) as { encoding: string; signature: string };
  expect(body.encoding).toBe('pkcs7');
  return { body, ...openSignedData(Buffer.from(body.signature, 'base64')) };
}

describe('attested data', () => {
  it('is a PKCS#7 SignedData whose RSA-SHA256 signature over the content verifies with the certificate', async () => {
    const { content, certificate, signatureValue } = await signed('api-version=2021-02-01&nonce=1234567890');
    const cert = new X509Certificate(certificate);
    expect(verify('sha256', content, cert.publicKey, signatureValue)).toBe(true);
    const tampered = Buffer.from(content);
    tampered[2] = tampered[2]! ^ 1;
    expect(verify('sha256', tampered, cert.publicKey, signatureValue)).toBe(false);
  });

  it('is signed by a self-signed certificate named under metadata.azure.com, valid now', async () => {
    const { certificate, sid } = await signed('api-version=2021-02-01&nonce=1');
    const cert = new X509Certificate(certificate);
    expect(cert.subject).toBe('CN=emulator.metadata.azure.com');
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.checkHost('emulator.metadata.azure.com')).toBe('emulator.metadata.azure.com');
    expect(cert.subject.replace(/^CN=/, '')).toMatch(/\.metadata\.azure\.com$/);
    expect(new Date(cert.validFrom).getTime()).toBeLessThan(START);
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(START);
    expect(cert.ca).toBe(false);
    expect(cert.publicKey.asymmetricKeyType).toBe('rsa');
    // The signer is identified by the certificate's issuer and serial number.
    const [issuer, serial] = sid.children as [DerNode, DerNode];
    expect(BigInt(`0x${cert.serialNumber}`)).toBe(decodeInteger(serial.content));
    expect(issuer.raw.toString('hex')).toBe(decode(certificate).children[0]!.children[3]!.raw.toString('hex'));
  });

  it('signs the documented fields from the fixture, with the nonce and clock times', async () => {
    const { content } = await signed('api-version=2021-02-01&nonce=1234567890');
    expect(JSON.parse(content.toString('utf8'))).toEqual({
      nonce: '1234567890',
      plan: { name: 'planName', product: 'planProduct', publisher: 'planPublisher' },
      timeStamp: { createdOn: '01/15/25 12:00:00 -0000', expiresOn: '01/15/25 18:00:00 -0000' },
      vmId: '02aab8a4-74ef-476e-8182-f6d2ba4166a6',
      subscriptionId: '8d10da13-8125-4ba9-a717-bf7490507b3d',
      sku: 'Windows-Server-2012-R2-Datacenter',
      licenseType: 'Windows_Client',
    });
  });

  it('puts the time in place of a missing nonce', async () => {
    const { content } = await signed('api-version=2021-02-01');
    expect(JSON.parse(content.toString('utf8')).nonce).toBe('20250115-120000');
  });

  it('older api-versions sign fewer fields', async () => {
    const { content } = await signed('api-version=2019-03-11&nonce=5');
    expect(Object.keys(JSON.parse(content.toString('utf8')))).toEqual(['nonce', 'plan', 'timeStamp', 'vmId']);
  });

  it.each<[string, string]>([
    ['no api-version', 'nonce=1'],
    ['an api-version before attested data existed', 'api-version=2018-04-02&nonce=1'],
    ['an unknown api-version', 'api-version=2099-01-01'],
    ['a nonce with forbidden characters', 'api-version=2021-02-01&nonce=a%20b'],
    ['a nonce too long', `api-version=2021-02-01&nonce=${'1'.repeat(65)}`],
    ['a duplicate nonce', 'api-version=2021-02-01&nonce=1&nonce=2'],
  ])('%s → 400', async (_name, query) => {
    expect((await attested(query)).status).toBe(400);
  });
});

describe('attested helpers', () => {
  it.each<[number, string]>([
    [Date.UTC(2018, 10, 28, 0, 16, 17), '11/28/18 00:16:17 -0000'],
    [Date.UTC(2025, 0, 5, 9, 3, 7), '01/05/25 09:03:07 -0000'],
  ])('attestedTime(%i) is %s', (ms, expected) => {
    expect(attestedTime(ms)).toBe(expected);
  });

  it('defaultNonce has the shape IMDS uses', () => {
    expect(defaultNonce(Date.UTC(2020, 10, 30, 21, 19, 24))).toBe('20201130-211924');
  });
});
