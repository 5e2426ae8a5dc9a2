import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/agentProcess.ts';

/**
 * Supply chain: the production dependency tree has no high or critical advisory, and every
 * dependency is pinned by the lockfile to an exact version and an integrity hash.
 */

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  link?: boolean;
  dev?: boolean;
  optional?: boolean;
  inBundle?: boolean;
}
interface Lockfile {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
}

const lock = (): Lockfile => JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lockfile;

describe('lockfile', () => {
  it('exists, is lockfileVersion 3 or later, and names the same direct dependencies as package.json', () => {
    expect(existsSync(join(ROOT, 'package-lock.json'))).toBe(true);
    const l = lock();
    expect(l.lockfileVersion).toBeGreaterThanOrEqual(3);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    const root = l.packages[''] as LockEntry & { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
    expect(root.dependencies).toEqual(pkg.dependencies);
    expect(root.devDependencies).toEqual(pkg.devDependencies);
    for (const name of [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies)]) expect(l.packages[`node_modules/${name}`], name).toBeDefined();
  });

  it('pins @kubernetes/client-node exactly in package.json: the agent imports files under its dist/, which a minor release may move', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies['@kubernetes/client-node']).toBe(lock().packages['node_modules/@kubernetes/client-node']?.version);
  });

  it('every dependency is resolved to an exact version with an integrity hash', () => {
    const problems: string[] = [];
    let checked = 0;
    for (const [path, entry] of Object.entries(lock().packages)) {
      if (path === '') continue;
      if (entry.link) {
        problems.push(`${path}: a link, not a pinned package`);
        continue;
      }
      if (!entry.version || !/^\d+\.\d+\.\d+(-[\w.]+)?(\+[\w.]+)?$/.test(entry.version)) problems.push(`${path}: no exact version (${entry.version})`);
      // Packages bundled inside another package's tarball are covered by that tarball's hash.
      if (entry.inBundle) continue;
      checked++;
      if (!entry.integrity || !/^sha512-[A-Za-z0-9+/]+=*$/.test(entry.integrity)) problems.push(`${path}: no sha512 integrity (${entry.integrity})`);
      // This repository's .npmrc sets omit-lockfile-registry-resolved, so `resolved` is usually
      // absent and npm derives it from the registry; when present it must be that registry.
      if (entry.resolved !== undefined && !entry.resolved.startsWith('https://registry.npmjs.org/')) problems.push(`${path}: resolved outside the registry (${entry.resolved})`);
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(50);
  });

  it('the production dependencies installed are the ones the lockfile pins', () => {
    const mismatched: string[] = [];
    let prod = 0;
    for (const [path, entry] of Object.entries(lock().packages)) {
      if (path === '' || entry.dev || entry.inBundle) continue;
      const manifest = join(ROOT, path, 'package.json');
      if (!existsSync(manifest)) {
        if (!entry.optional) mismatched.push(`${path}: not installed`);
        continue;
      }
      prod++;
      const installed = (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
      if (installed !== entry.version) mismatched.push(`${path}: installed ${installed}, locked ${entry.version}`);
    }
    expect(mismatched).toEqual([]);
    expect(prod).toBeGreaterThan(5);
  });
});
