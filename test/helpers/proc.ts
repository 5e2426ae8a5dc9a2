import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Process figures from /proc (Linux): what the kernel charges, not what the runtime reports. */

let clockTicks: number | undefined;

/** USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

export interface Memory {
  /** Resident set size now, MiB. */
  rssMiB: number;
  /** Peak resident set size (VmHWM), MiB. */
  peakMiB: number;
}

export function memory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
}

function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name is in parentheses and may hold spaces: split after the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * On-CPU milliseconds of every thread of a live process, from /proc/<pid>/task/<tid>/schedstat
 * (nanoseconds; /proc/<pid>/stat counts 10 ms ticks, too coarse for a 200 ms start-up).
 */
export function cpuMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // thread exited meanwhile
    }
  }
  return ns / 1e6;
}

/** User plus system CPU seconds of the process itself. */
export function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  return (Number(f[11]) + Number(f[12])) / ticksPerSecond();
}

/**
 * CPU seconds a process tree has used: for each process its own user and system time plus that of
 * the children it has reaped. A child that exits moves its whole total into its parent's reaped
 * time, so the difference of two readings counts children that were running at either end once.
 */
export function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    try {
      const f = statFields(pid);
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // exited meanwhile: its time is in its parent's reaped time by the next reading
    }
  }
  return ticks / ticksPerSecond();
}

/** The pid and every descendant, from /proc. */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(statFields(Number(entry))[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    const pid = queue.pop()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Summed RSS of a process tree, MiB (processes that exit meanwhile count as 0). */
function treeRssMiB(root: number): number {
  let total = 0;
  for (const pid of processTree(root)) {
    try {
      // A zombie has no VmRSS.
      const rss = memory(pid).rssMiB;
      if (Number.isFinite(rss)) total += rss;
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

/** Samples a process tree's summed RSS every `everyMs` until stopped; returns the peak seen. */
export function sampleTreePeak(root: number, everyMs = 10): { stop(): number } {
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, treeRssMiB(root));
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}
