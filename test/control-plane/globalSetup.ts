/**
 * vitest globalSetup of the real-cluster tier: ONE control plane and one agent bundle for the
 * whole run, handed to test files with provide/inject, so files never race for ports. Files that
 * restart components start their own (startControlPlane) instead.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stop as stopEsbuild } from 'esbuild';
import type { TestProject } from 'vitest/node';
import { buildBundle } from '../../scripts/build.ts';
import { startControlPlane, type ControlPlaneInfo } from './launcher.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    controlPlane: ControlPlaneInfo;
    /** The esbuild bundle as the image ships it (dist/ of `npm run build`). */
    distDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const distDir = join(mkdtempSync(join(tmpdir(), 'imds-labeler-cluster-dist-')), 'app');
  const [controlPlane] = await Promise.all([startControlPlane(), buildBundle({ outdir: distDir })]);
  const { stop: _stop, pid: _pid, startComponent: _start, stopComponent: _stopC, restartApiserver: _restart, ...info } = controlPlane;
  // esbuild's service process would keep the main process alive after the run.
  await stopEsbuild();
  project.provide('controlPlane', info);
  project.provide('distDir', distDir);
  console.error(`real control plane at ${info.url}; logs in ${info.dir}`);
  return async () => {
    await controlPlane.stop();
    rmSync(join(distDir, '..'), { recursive: true, force: true });
  };
}
