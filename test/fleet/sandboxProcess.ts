import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CounterSnapshot, SandboxFaults } from '../../testbed/kube-sandbox/server.ts';

/**
 * `imds-labeler sandbox` in a process of its own, as an API server would be: it gets its own
 * core, and its CPU and memory are measured apart from the benchmark's. The benchmark drives it
 * through the sandbox's control endpoints (/_sandbox/counters, /_sandbox/faults).
 */
export interface SandboxProcess {
  url: string;
  pid: number;
  /** Written by the sandbox (--kubeconfig-out). */
  kubeconfig: string;
  counters(): Promise<CounterSnapshot>;
  resetCounters(): Promise<void>;
  setFaults(faults: SandboxFaults): Promise<void>;
  stop(): Promise<void>;
}

export async function startSandboxProcess(o: { nodes: string[]; dir: string }): Promise<SandboxProcess> {
  const kubeconfig = join(o.dir, 'kubeconfig');
  const cli = fileURLToPath(new URL('../../cmd/imds-labeler.ts', import.meta.url));
  const proc = spawn(process.execPath, [cli, 'sandbox', '--port', '0', '--nodes', o.nodes.join(','), '--kubeconfig-out', kubeconfig], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout.on('data', (chunk: Buffer) => {
      const m = /listening on (http:\/\/\S+)/.exec(chunk.toString());
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`sandbox exited with ${code}`)));
  });
  const control = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${url}/_sandbox/${path}`, init);
    if (!res.ok) throw new Error(`sandbox ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<unknown>;
  };
  return {
    url,
    pid: proc.pid!,
    kubeconfig,
    counters: async () => (await control('counters')) as CounterSnapshot,
    resetCounters: async () => void (await control('counters/reset', { method: 'POST' })),
    setFaults: async (faults) => void (await control('faults', { method: 'POST', body: JSON.stringify(faults), headers: { 'content-type': 'application/json' } })),
    async stop() {
      if (proc.exitCode !== null) return;
      proc.kill('SIGTERM');
      await once(proc, 'exit');
    },
  };
}
