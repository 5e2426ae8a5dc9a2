import { randomBytes, sign, type KeyObject } from 'node:crypto';
import * as der from './der.ts';

const OID = {
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
} as const;

export interface CertificateRequest {
  commonName: string;
  publicKey: KeyObject;
  privateKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  /** basicConstraints cA: a self-signed server certificate that is its own trust anchor needs it. */
  ca: boolean;
  /** The keyUsage BIT STRING's content: the number of unused bits, then the bits. */
  keyUsage: readonly number[];
  /** The one subjectAltName entry, a DER GeneralName: [2] dNSName or [7] iPAddress. */
  subjectAltName: Buffer;
}

export interface SelfSignedCertificate {
  /** The certificate, DER. */
  certificate: Buffer;
  /** Its subject (and issuer) Name, DER. */
  name: Buffer;
  serial: Buffer;
}

/** A self-signed X.509 v3 certificate, RSA with SHA-256, built without openssl. */
export function selfSignedCertificate(request: CertificateRequest): SelfSignedCertificate {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40; // positive, and exactly 16 bytes
  const name = der.sequence(der.set(der.sequence(der.oid(OID.commonName), der.printableString(request.commonName))));
  const extensions = der.sequence(
    der.sequence(der.oid(OID.basicConstraints), der.boolean(true), der.octetString(request.ca ? der.sequence(der.boolean(true)) : der.sequence())),
    der.sequence(der.oid(OID.keyUsage), der.boolean(true), der.octetString(der.tlv(der.TAG.bitString, Buffer.from(request.keyUsage)))),
    der.sequence(der.oid(OID.subjectAltName), der.octetString(der.sequence(request.subjectAltName))),
  );
  const tbs = der.sequence(
    der.explicit(0, der.integer(2)),
    der.integer(serial),
    der.algorithm(OID.sha256WithRSAEncryption),
    name,
    der.sequence(der.time(request.notBefore), der.time(request.notAfter)),
    name,
    request.publicKey.export({ type: 'spki', format: 'der' }),
    der.explicit(3, extensions),
  );
  const certificate = der.sequence(tbs, der.algorithm(OID.sha256WithRSAEncryption), der.bitString(sign('sha256', tbs, request.privateKey)));
  return { certificate, name, serial };
}
