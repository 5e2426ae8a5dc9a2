import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { runBaseline } from './baseline.ts';
import { NODE, agentLabels, startAgent, startCluster, type Workspace } from '../../helpers/bundledAgent.ts';
import { cpuSeconds, treeCpuSeconds } from '../../helpers/proc.ts';
import { sleep, waitFor } from '../../helpers/wait.ts';

/**
 * Idle CPU in real time: the shipped bundle at the chart's settings (60 s polls, 5 min watches)
 * beside the shell loop at the same period, with no time acceleration. The accelerated runs of
 * bench.ts cannot show this cost: they speed up JavaScript timers, not native ones (libuv timers
 * that V8 or Node.js arm themselves, such as an event-loop-delay monitor), so a native wake-up
 * 100 times a second looks 40 times cheaper than it is.
 *
 * The repeats run side by side, each agent on its own node of one sandbox and each shell loop on
 * another, so N repeats take one window of wall time. CPU is what the kernel charges:
 * /proc/<pid>/stat utime + stime of the agent, and of the loop's whole process tree (bash plus
 * the curl and kubectl it runs and reaps), read at the start and the end of the window, after
 * start-up (labels applied, then `settleMs`).
 */
export interface IdleResult {
  /** CPU seconds per node-hour, one per repeat. */
  agent: number[];
  baseline: number[];
  /** Length of the measured window, seconds. */
  windowSeconds: number;
  /** IMDS requests the agents made in the window, summed (about repeats x window / period). */
  agentPolls: number;
}

export async function measureIdleCpu(ws: Workspace, o: { minutes: number; repeats: number; periodSeconds: number; settleMs?: number; progress?: (s: string) => void }): Promise<IdleResult> {
  const agentNodes = Array.from({ length: o.repeats }, (_, i) => `${NODE}-idle-a${i}`);
  const loopNodes = Array.from({ length: o.repeats }, (_, i) => `${NODE}-idle-b${i}`);
  const cluster = await startCluster(ws.dir, { nodes: [...agentNodes, ...loopNodes] });
  const agents = agentNodes.map((node) => startAgent({ ws, cluster, node }));
  const home = join(ws.dir, 'idle-home');
  mkdirSync(home, { recursive: true });
  const loops = loopNodes.map((node) => runBaseline({ dir: ws.dir, imdsUrl: cluster.emulator.url, kubeconfig: cluster.kubeconfigYaml, node, cycles: 0, periodSeconds: o.periodSeconds, home }));
  try {
    const unlabelled = () => [...agentNodes, ...loopNodes].filter((node) => Object.keys(agentLabels(cluster.sandbox, node)).length === 0);
    await waitFor('labels on every idle node (the value: the nodes still without)', unlabelled, { accept: (nodes) => nodes.length === 0, timeoutMs: 120_000, everyMs: 50 });
    await sleep(o.settleMs ?? 10_000);
    const agentCpu0 = agents.map((a) => cpuSeconds(a.pid));
    const loopCpu0 = loops.map((l) => treeCpuSeconds(l.pid));
    // The agent asks for the whole instance document; the shell loops for one field at a time.
    const agentRequests = () => cluster.emulator.requests().byPath['/metadata/instance'] ?? 0;
    const polls0 = agentRequests();
    const t0 = performance.now();
    const windowMs = o.minutes * 60_000;
    for (let left = windowMs; left > 0; left -= 60_000) {
      o.progress?.(`idle: ${Math.ceil(left / 60_000)} min left`);
      await sleep(Math.min(left, 60_000));
    }
    const seconds = (performance.now() - t0) / 1000;
    const perNodeHour = (cpu: number) => (cpu / seconds) * 3600;
    return {
      agent: agents.map((a, i) => perNodeHour(cpuSeconds(a.pid) - agentCpu0[i]!)),
      baseline: loops.map((l, i) => perNodeHour(treeCpuSeconds(l.pid) - loopCpu0[i]!)),
      windowSeconds: seconds,
      agentPolls: agentRequests() - polls0,
    };
  } finally {
    for (const l of loops) l.kill();
    await Promise.all([...agents.map((a) => a.stop()), ...loops.map((l) => l.done.catch(() => undefined))]);
    await cluster.close();
  }
}
