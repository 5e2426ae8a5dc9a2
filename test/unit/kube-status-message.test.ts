import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeStatus } from '../../src/kube/errors.ts';
import { CredentialError, parseExecCredential } from '../../src/kube/execCredential.ts';

const status = (code: number, reason: string, message: string) => JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });

describe('describeStatus: the API server\'s answer as a log line', () => {
  it.each<[number, string | undefined, string]>([
    [403, status(403, 'Forbidden', 'nodes "n" is forbidden: User "u" cannot patch resource "nodes"'), 'Kubernetes API answered 403 Forbidden: nodes "n" is forbidden: User "u" cannot patch resource "nodes" (reason Forbidden); check the ClusterRole'],
    [422, status(422, 'Invalid', 'Node "n" is invalid: metadata.labels: Invalid value: "x y": a valid label must be...'), 'Kubernetes API answered 422 Unprocessable Entity: Node "n" is invalid: metadata.labels: Invalid value: "<redacted>": a valid label must be... (reason Invalid); an admission policy'],
    [500, '<html>bad gateway</html>', 'Kubernetes API answered 500 Internal Server Error'],
    [503, undefined, 'Kubernetes API answered 503 Service Unavailable'],
    [418, '{"kind":"Table","message":"not a status"}', 'Kubernetes API answered 418'],
    [409, status(409, 'Conflict', 'Operation cannot be fulfilled on nodes "n": the object has been modified'), 'Kubernetes API answered 409 Conflict: Operation cannot be fulfilled on nodes "n": the object has been modified (reason Conflict)'],
  ])('%i', (code, body, expected) => {
    expect(describeStatus(code, body).startsWith(expected)).toBe(true);
  });

  it('a message longer than a log line is cut', () => {
    expect(describeStatus(400, status(400, 'BadRequest', 'x'.repeat(5000))).length).toBeLessThan(1000);
  });

  it('property: any body, any code: a line that starts with the code, and no throw', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), fc.oneof(fc.string(), fc.json(), fc.constant(undefined)), (code, body) => {
        expect(describeStatus(code, body).startsWith(`Kubernetes API answered ${code}`)).toBe(true);
      }),
    );
  });

  it('property: a value the request carried never appears in the message, quoted or not', () => {
    const secret = fc.string({ minLength: 4, maxLength: 40 }).filter((s) => !/[<>"\\()]/.test(s) && /[^redact]/.test(s) && s.trim() === s && s.length >= 4);
    fc.assert(
      fc.property(secret, fc.constantFrom('label value "%s" is not allowed', 'denied: %s', 'value %s and again "%s"'), (value, template) => {
        const line = describeStatus(403, status(403, 'Forbidden', template.replaceAll('%s', value)), [value]);
        const message = line.slice('Kubernetes API answered 403 Forbidden: '.length, line.lastIndexOf(' (reason Forbidden)'));
        expect(message).not.toContain(value);
      }),
    );
  });
});

describe('parseExecCredential: what a credential plugin wrote', () => {
  it.each<[string, string, RegExp | { token?: string; cert?: boolean; expiresAt?: number }]>([
    ['a token', JSON.stringify({ kind: 'ExecCredential', status: { token: 't' } }), { token: 't' }],
    ['a token with an expiry', JSON.stringify({ status: { token: 't', expirationTimestamp: '2030-01-01T00:00:00Z' } }), { token: 't', expiresAt: Date.parse('2030-01-01T00:00:00Z') }],
    ['a client certificate and key', JSON.stringify({ status: { clientCertificateData: 'C', clientKeyData: 'K' } }), { cert: true }],
    ['not JSON', 'Please visit https://login and enter the code', /not JSON/],
    ['no status', '{}', /without a status/],
    ['a certificate without its key', JSON.stringify({ status: { clientCertificateData: 'C' } }), /neither a token nor a client certificate and key/],
    ['an expiry that is not a time', JSON.stringify({ status: { token: 't', expirationTimestamp: 'soon' } }), /not a time/],
  ])('%s', (_name, text, expected) => {
    if (expected instanceof RegExp) {
      const err = (() => {
        try {
          parseExecCredential(text);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(CredentialError);
      expect((err as Error).message).toMatch(expected);
      expect((err as Error).message).not.toContain('https://login');
      return;
    }
    const c = parseExecCredential(text);
    if (expected.token) expect(c.token).toBe(expected.token);
    if (expected.cert) expect([c.clientCertificateData, c.clientKeyData]).toEqual(['C', 'K']);
    expect(c.expiresAt).toBe(expected.expiresAt);
  });
});
