import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../scripts/build.ts';
import { imageNodeOptions } from '../bench/lib/env.ts';

/**
 * The bundle is all the image ships: it must run every subcommand from a folder with no
 * node_modules anywhere above it, with the image's node options (--jitless included).
 */
let buildDir: string;
let app: string;

beforeAll(async () => {
  buildDir = mkdtempSync(join(tmpdir(), 'imds-labeler-bundle-build-'));
  await buildBundle({ outdir: join(buildDir, 'dist') });
  // A clean folder, as the image's /app: the bundle files and nothing else.
  app = join(mkdtempSync(join(tmpdir(), 'imds-labeler-bundle-')), 'app');
  cpSync(join(buildDir, 'dist'), app, { recursive: true });
});
afterAll(() => {
  rmSync(buildDir, { recursive: true, force: true });
  rmSync(dirname(app), { recursive: true, force: true });
});

function run(args: string[], nodeOptions: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [...nodeOptions, join(app, 'imds-labeler.mjs'), ...args], {
      cwd: app,
      // No NODE_OPTIONS, NODE_PATH or loaders from the test runner.
      env: { PATH: process.env.PATH, HOME: app },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the bundle (dist/) on its own', () => {
  it('is the entry and its chunks, with no node_modules above it', () => {
    expect(readdirSync(app)).toContain('imds-labeler.mjs');
    for (let dir = app; dir !== dirname(dir); dir = dirname(dir)) expect(existsSync(join(dir, 'node_modules'))).toBe(false);
  });

  it('prints the top-level help and a subcommand help', async () => {
    const top = await run(['--help']);
    expect(top.code, top.stderr).toBe(0);
    expect(top.stdout).toContain('Usage: imds-labeler <command>');
    const agent = await run(['agent', '--help']);
    expect(agent.code, agent.stderr).toBe(0);
    expect(agent.stdout).toContain('Usage: imds-labeler agent');
  });

  it('runs the demo: labels applied, then a tag change followed', async () => {
    const r = await run(['demo', '--poll-period', '200ms'], imageNodeOptions(app));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Labels on node demo-node after the first sync/);
    expect(r.stdout).toMatch(/^ {2}imds-labeler\.io\/zone=\S+$/m);
    expect(r.stdout).toMatch(/^ {2}imds-labeler\.io\/vm-size=\S+$/m);
    expect(r.stdout).toMatch(/^ {2}tags\.imds-labeler\.io\/\S+=\S+ {3}\(followed in \d+ ms\)$/m);
  });
});
