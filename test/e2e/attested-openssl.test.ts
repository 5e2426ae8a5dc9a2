import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../testbed/imds-emulator/server.ts';
import { imds } from '../helpers/emulator.ts';

/**
 * The emulator's attested data read as a user reads it (docs/emulator.md): over HTTP, then
 * `openssl cms -verify`, the real OpenSSL that scripts/install-tools.sh makes sure of. The
 * signature's structure and its check with Node's crypto are in test/unit/emulator.attested.test.ts.
 */

function openssl(args: string[]): Buffer {
  try {
    return execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('openssl is missing: run "bash scripts/install-tools.sh" (it installs Debian\'s openssl package)');
    throw new Error(`openssl ${args.join(' ')}: ${e.stderr?.toString() ?? e.message}`);
  }
}

let emulator: Emulator;
let dir: string;
beforeAll(async () => {
  emulator = await startEmulator({ port: 0, rateLimitPerSecond: 0 });
  dir = mkdtempSync(join(tmpdir(), 'imds-labeler-attested-'));
});
afterAll(async () => {
  await emulator.close();
  rmSync(dir, { recursive: true, force: true });
});

async function signatureFile(query: string, name: string): Promise<string> {
  const res = await imds(emulator.url, `/metadata/attested/document?${query}`);
  expect(res.status).toBe(200);
  const file = join(dir, name);
  writeFileSync(file, Buffer.from((JSON.parse(res.body) as { signature: string }).signature, 'base64'));
  return file;
}

describe('attested data and openssl', () => {
  it.each([
    ['2021-02-01', '42'],
    ['2019-03-11', 'old.version'],
  ])('api-version %s, nonce %s: openssl verifies the signature and reads the nonce', async (version, nonce) => {
    const file = await signatureFile(`api-version=${version}&nonce=${nonce}`, `${version}.der`);
    const content = openssl(['cms', '-verify', '-inform', 'DER', '-in', file, '-noverify', '-binary']);
    expect((JSON.parse(content.toString('utf8')) as { nonce: string }).nonce).toBe(nonce);
  });

  it('openssl refuses a signature whose content was changed', async () => {
    const file = await signatureFile('api-version=2021-02-01&nonce=7', 'tampered.der');
    const der = readFileSync(file);
    const at = der.indexOf(Buffer.from('"nonce":"7"'));
    expect(at).toBeGreaterThan(0);
    der[at + 10] = '8'.charCodeAt(0);
    writeFileSync(file, der);
    expect(() => openssl(['cms', '-verify', '-inform', 'DER', '-in', file, '-noverify', '-binary'])).toThrow(/verif/i);
  });
});
