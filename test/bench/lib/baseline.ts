import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../helpers/bundledAgent.ts';
import { sampleTreePeak } from '../../helpers/proc.ts';

/**
 * The baseline: the shell loop people deploy today as a DaemonSet. Every cycle it asks IMDS for
 * each field separately (`curl -H Metadata:true .../compute/<field>?format=text`), then runs
 * `kubectl label node X --overwrite k=v...`, whether anything changed or not.
 */
export const BASELINE_FIELDS: Record<string, string> = {
  platformFaultDomain: 'imds-labeler.io/fault-domain',
  platformUpdateDomain: 'imds-labeler.io/update-domain',
  zone: 'imds-labeler.io/zone',
  vmSize: 'imds-labeler.io/vm-size',
  location: 'imds-labeler.io/region',
};

export const BASELINE_SCRIPT = `#!/usr/bin/env bash
# imds-labeler benchmark baseline: the per-field curl + kubectl label loop.
# usage: loop.sh IMDS_URL NODE PERIOD_SECONDS CYCLES   (CYCLES 0: forever)
set -u
imds=$1 node=$2 period=$3 cycles=$4
api='api-version=2021-02-01&format=text'
i=0
while [ "$cycles" = 0 ] || [ "$i" -lt "$cycles" ]; do
  args=()
${Object.entries(BASELINE_FIELDS)
  .map(([field, label]) => `  args+=("${label}=$(curl -s -H Metadata:true "$imds/metadata/instance/compute/${field}?$api")")`)
  .join('\n')}
  tags=$(curl -s -H Metadata:true "$imds/metadata/instance/compute/tags?$api")
  IFS=';' read -ra pairs <<< "$tags"
  for p in "\${pairs[@]}"; do args+=("tags.imds-labeler.io/\${p%%:*}=\${p#*:}"); done
  kubectl label node "$node" --overwrite "\${args[@]}" > /dev/null
  i=$((i + 1))
  [ "$cycles" != 0 ] && [ "$i" -ge "$cycles" ] && break
  sleep "$period"
done
times
`;

/** IMDS requests one cycle of the loop sends. */
export const BASELINE_IMDS_PER_CYCLE = Object.keys(BASELINE_FIELDS).length + 1;

export function kubectlPath(): string {
  for (const p of [join(ROOT, '.tools/bin/kubectl'), '/usr/bin/kubectl', '/usr/local/bin/kubectl']) if (existsSync(p)) return p;
  throw new Error('kubectl not found (.tools/bin/kubectl or /usr/bin/kubectl); run scripts/install-tools.sh');
}

export interface BaselineRun {
  pid: number;
  spawnedAt: number;
  /** Resolves when the loop has finished its cycles. */
  done: Promise<{ cpuSeconds: number; peakTreeMiB: number; code: number | null }>;
  kill(): void;
}

/** Runs the loop for `cycles` cycles; a fresh HOME unless given (kubectl keeps its discovery cache there). */
export function runBaseline(o: { dir: string; imdsUrl: string; kubeconfig: string; node: string; cycles: number; periodSeconds?: number; home?: string }): BaselineRun {
  const script = join(o.dir, 'loop.sh');
  writeFileSync(script, BASELINE_SCRIPT, { mode: 0o755 });
  const home = o.home ?? join(o.dir, `home-${Date.now()}-${Math.random().toString(16).slice(2)}`);
  mkdirSync(home, { recursive: true });
  const kubectl = kubectlPath();
  const bin = join(o.dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'kubectl'), `#!/bin/sh\nexec ${kubectl} "$@"\n`, { mode: 0o755 });
  const spawnedAt = performance.now();
  const proc = spawn('bash', [script, o.imdsUrl, o.node, String(o.periodSeconds ?? 0), String(o.cycles)], {
    env: { PATH: `${bin}:${process.env.PATH}`, HOME: home, KUBECONFIG: o.kubeconfig },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const sampler = sampleTreePeak(proc.pid!, 10);
  let out = '';
  let err = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
  const done = new Promise<{ cpuSeconds: number; peakTreeMiB: number; code: number | null }>((resolve, reject) =>
    proc.once('exit', (code) => {
      const peakTreeMiB = sampler.stop();
      // `times`: two lines, "shell-user shell-sys" then "children-user children-sys", as 0m1.234s.
      const secs = [...out.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0);
      if (code !== 0 && code !== null) reject(new Error(`baseline loop exited ${code}: ${err}`));
      else resolve({ cpuSeconds: secs, peakTreeMiB, code });
    }),
  );
  return { pid: proc.pid!, spawnedAt, done, kill: () => proc.kill('SIGKILL') };
}
