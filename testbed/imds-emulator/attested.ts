import { generateKeyPair, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import * as der from './der.ts';
import { available } from './availability.ts';
import { selfSignedCertificate } from './x509.ts';

/**
 * Attested data: a PKCS#7 SignedData over a small JSON document, signed with RSA PKCS#1 v1.5 and
 * SHA-256 by a self-signed certificate whose name is a subdomain of metadata.azure.com, as
 * Azure's signer is. Verifiers that check the signature, the content and the signer's name
 * accept it; verifiers that build a chain to a public root do not, by design.
 */

export const ATTESTED_COMMON_NAME = 'emulator.metadata.azure.com';
/** The first api-version that serves /metadata/attested. */
export const ATTESTED_SINCE = '2018-10-01';

export const OID = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  sha256: '2.16.840.1.101.3.4.2.1',
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
} as const;

const DAY_MS = 86_400_000;

export interface Signer {
  /** The signer certificate, DER. */
  certificate: Buffer;
  /** A PKCS#7 ContentInfo (SignedData) carrying `content`, its signature and the certificate. */
  signedData(content: Buffer): Buffer;
}

let sharedKeys: Promise<{ publicKey: KeyObject; privateKey: KeyObject }> | undefined;

/** One RSA key per process: generating one takes a noticeable fraction of a second. */
function keys() {
  sharedKeys ??= promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
  return sharedKeys;
}

export async function createSigner(options: { commonName?: string; now: number }): Promise<Signer> {
  const { publicKey, privateKey } = await keys();
  const commonName = options.commonName ?? ATTESTED_COMMON_NAME;
  const { certificate, name, serial } = selfSignedCertificate({
    commonName,
    publicKey,
    privateKey,
    notBefore: new Date(options.now - DAY_MS),
    notAfter: new Date(options.now + 365 * DAY_MS),
    ca: false,
    // digitalSignature only: one byte with 7 unused bits.
    keyUsage: [0x07, 0x80],
    subjectAltName: der.tlv(0x82, Buffer.from(commonName, 'latin1')),
  });

  return {
    certificate,
    signedData(content) {
      // No signed attributes: the signature is over the content itself.
      const signature = sign('sha256', content, privateKey);
      const signerInfo = der.sequence(
        der.integer(1),
        der.sequence(name, der.integer(serial)),
        der.algorithm(OID.sha256),
        der.algorithm(OID.rsaEncryption),
        der.octetString(signature),
      );
      const signedData = der.sequence(
        der.integer(1),
        der.set(der.algorithm(OID.sha256)),
        der.sequence(der.oid(OID.data), der.explicit(0, der.octetString(content))),
        der.implicitConstructed(0, certificate),
        der.set(signerInfo),
      );
      return der.sequence(der.oid(OID.signedData), der.explicit(0, signedData));
    },
  };
}

/** IMDS's timestamp notation: "11/28/18 00:16:17 -0000". */
export function attestedTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())}/${two(d.getUTCFullYear() % 100)} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} -0000`;
}

/** The nonce IMDS puts in when the request has none: the time, "20201130-211924". */
export function defaultNonce(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** A nonce the emulator accepts: 1 to 64 letters, digits, '.', '_' or '-'. */
export const NONCE = /^[0-9A-Za-z._-]{1,64}$/;

/** How long a signed document is valid, as Azure's samples show. */
export const ATTESTED_LIFETIME_MS = 6 * 3_600_000;

/** The signed JSON, from the compute section, with the fields the api-version has. */
export function attestedPayload(compute: Record<string, unknown>, nonce: string, now: number, apiVersion: string): Record<string, unknown> {
  const field = (key: string) => {
    const found = Object.keys(compute).find((k) => k.toLowerCase() === key.toLowerCase());
    const value = found === undefined ? undefined : compute[found];
    return value;
  };
  const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
  const plan = (field('plan') ?? {}) as Record<string, unknown>;
  const payload: Record<string, unknown> = {
    nonce,
    plan: { name: str(plan.name), product: str(plan.product), publisher: str(plan.publisher) },
    timeStamp: { createdOn: attestedTime(now), expiresOn: attestedTime(now + ATTESTED_LIFETIME_MS) },
    vmId: str(field('vmId')),
    subscriptionId: str(field('subscriptionId')),
    sku: str(field('sku')),
    licenseType: str(field('licenseType')),
  };
  for (const [key, since] of Object.entries(ATTESTED_FIELDS_SINCE)) if (!available(since, apiVersion)) delete payload[key];
  return payload;
}

const ATTESTED_FIELDS_SINCE: Record<string, string> = {
  subscriptionId: '2019-04-30',
  sku: '2019-11-01',
  licenseType: '2020-09-01',
};
