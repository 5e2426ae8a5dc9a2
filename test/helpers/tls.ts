import { generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import * as der from '../../testbed/imds-emulator/der.ts';
import * as x509 from '../../testbed/imds-emulator/x509.ts';

/**
 * An HTTPS front for the sandbox, so the benchmarked agent talks to the API the way it does in a
 * cluster: TLS verified against a CA file, a bearer token read from a file. The sandbox serves
 * plain HTTP; this terminates TLS and pipes bytes to it.
 */

export interface SelfSigned {
  /** PEM certificate; also the CA to trust. */
  cert: string;
  /** PEM private key. */
  key: string;
}

/** A self-signed certificate for IP 127.0.0.1 (no openssl needed). */
export function selfSignedCertificate(now = Date.now()): SelfSigned {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const day = 86_400_000;
  const { certificate } = x509.selfSignedCertificate({
    commonName: 'imds-labeler bench',
    publicKey,
    privateKey,
    notBefore: new Date(now - day),
    notAfter: new Date(now + 30 * day),
    ca: true,
    // digitalSignature, keyEncipherment, keyCertSign: 1010 0100, two unused bits.
    keyUsage: [0x02, 0xa4],
    // iPAddress [7] 127.0.0.1
    subjectAltName: der.tlv(0x87, Buffer.from([127, 0, 0, 1])),
  });
  const pem = `-----BEGIN CERTIFICATE-----\n${certificate.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
  return { cert: pem, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

export interface TlsFront {
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1 with TLS and pipes every connection to `targetPort` on 127.0.0.1.
 *
 * Both legs set TCP_NODELAY, as kube-apiserver's do (Go's net package sets it on every TCP
 * connection). Without it, Nagle's algorithm held a response's TLS record behind the unacknowledged
 * session ticket until the client's delayed ACK fired, so each first request on a connection
 * waited about 40 ms that no real API server adds (docs/performance.md).
 */
export async function startTlsFront(targetPort: number, certificate: SelfSigned): Promise<TlsFront> {
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ key: certificate.key, cert: certificate.cert, noDelay: true }, (client) => {
    const upstream = net.connect({ port: targetPort, host: '127.0.0.1', noDelay: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  // A client that gives up mid-handshake is not an error here.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `https://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
