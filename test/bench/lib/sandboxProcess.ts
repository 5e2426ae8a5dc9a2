import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { CounterSnapshot, SandboxFaults } from '../../../src/kube/sandbox/server.ts';

/**
 * The sandbox in a process of its own, on accelerated time, for the fleet benchmark: the API
 * server side gets its own core and its memory is measured apart from the simulated agents'.
 * Run as a script it starts the sandbox and prints one JSON line {url, port}; the parent uses the
 * control endpoints (/_sandbox/counters, /_sandbox/faults) and stops it with SIGTERM.
 */

export interface SandboxProcess {
  url: string;
  port: number;
  pid: number;
  counters(): Promise<CounterSnapshot>;
  resetCounters(): Promise<void>;
  setFaults(plan: SandboxFaults): Promise<void>;
  stop(): Promise<void>;
}

export async function startSandboxProcess(o: { nodes: string[]; speed: number; historyLimit: number }): Promise<SandboxProcess> {
  const proc: ChildProcess = spawn(process.execPath, ['--max-old-space-size=4096', fileURLToPath(import.meta.url), '--speed', String(o.speed), '--history', String(o.historyLimit)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  proc.stdin!.end(o.nodes.join('\n'));
  const { url, port } = await new Promise<{ url: string; port: number }>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl !== -1) resolve(JSON.parse(out.slice(0, nl)) as { url: string; port: number });
    });
    proc.once('exit', (code) => reject(new Error(`sandbox process exited ${code}`)));
  });
  const control = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${url}/_sandbox/${path}`, init);
    if (!res.ok) throw new Error(`sandbox ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<unknown>;
  };
  return {
    url,
    port,
    pid: proc.pid!,
    counters: async () => (await control('counters')) as CounterSnapshot,
    resetCounters: async () => void (await control('counters/reset', { method: 'POST' })),
    setFaults: async (plan) => void (await control('faults', { method: 'POST', body: JSON.stringify(plan), headers: { 'content-type': 'application/json' } })),
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

async function main(): Promise<void> {
  const { startSandbox } = await import('../../../src/kube/sandbox/server.ts');
  const { warpedClock } = await import('./warp.ts');
  const { values } = parseArgs({ options: { speed: { type: 'string' }, history: { type: 'string' } } });
  let input = '';
  for await (const chunk of process.stdin) input += (chunk as Buffer).toString();
  const nodes = input.split('\n').filter(Boolean);
  const sandbox = await startSandbox({ port: 0, nodes, clock: warpedClock(Number(values.speed)), historyLimit: Number(values.history) });
  process.stdout.write(`${JSON.stringify({ url: sandbox.url, port: sandbox.port })}\n`);
  process.once('SIGTERM', () => void sandbox.close().then(() => process.exit(0)));
}

if (import.meta.main) await main();
