/**
 * The fleet's scenarios and the request counts each must produce at the API server, for the
 * fleet benchmark (which prints them beside its rates) and the fleet cluster test (which asserts
 * them): one definition of what a scenario does and what it should cost.
 */
import type { ScaledClock } from '../helpers/fakeClock.ts';
import { waitFor } from '../helpers/wait.ts';
import { countsSince, type ApiServerUnderTest, type RequestCounts } from './apiServer.ts';
import type { Fleet, SentKind } from './agents.ts';

/** What the agents' requests must add up to at the server, by `VERB resource` (all codes). */
export interface Expectation {
  kind: SentKind;
  count: number;
  /** `exact`: this many; `atLeast`: refused attempts (a restarting server's 5xx) may add to it. */
  match: 'exact' | 'atLeast';
  why: string;
}

export interface ScenarioResult {
  name: string;
  /** At the server over the scenario, by `VERB resource code`. */
  counted: RequestCounts;
  /** As the agents sent them over the scenario. */
  sent: Partial<Record<SentKind, number>>;
  expected: Expectation[];
  /** Agent time: the scenario's start, when every node carried the value, and the end (after the settle time). */
  from: number;
  converged: number;
  to: number;
  /** Agent time the server accepted connections again, for the outage scenario. */
  recovered?: number;
  /** What the server's outage was, for the outage scenario. */
  outage?: string;
}

export interface FleetContext {
  server: ApiServerUnderTest;
  fleet: Fleet;
  clock: ScaledClock;
  /** Wall-clock bound on waiting for the fleet to converge. */
  timeoutMs?: number;
}

const exact = (kind: SentKind, count: number, why: string): Expectation => ({ kind, count, match: 'exact', why });

export const expectations = {
  firstLabels: (n: number): Expectation[] => [
    exact('PATCH nodes', n, 'one label write per node'),
    exact('PATCH nodes/status', 0, 'no condition to take back'),
    exact('LIST nodes', n, 'one list per agent before its watch'),
    exact('POST events', n, 'one LabelsUpdated per node'),
  ],
  steady: (): Expectation[] => [
    exact('PATCH nodes', 0, 'nothing changed'),
    exact('PATCH nodes/status', 0, 'nothing changed'),
    exact('LIST nodes', 0, 'watches resume from their resourceVersion'),
    exact('POST events', 0, 'nothing changed'),
  ],
  // No LIST count: on the real API server a fleet-wide change made 9 of 500 agents list again
  // (after a watch that ended in 410 Gone or an error; the benchmark does not record which).
  tagChange: (n: number): Expectation[] => [exact('PATCH nodes', n, 'one write per changed node'), exact('POST events', n, 'one LabelsUpdated per node')],
  outage: (n: number): Expectation[] => [{ kind: 'PATCH nodes', count: n, match: 'atLeast', why: 'one accepted write per changed node; a restarting server may refuse some' }],
};

/** Counts at the server summed over codes, for `VERB resource`. */
export function countedFor(counted: RequestCounts, kind: string): number {
  let n = 0;
  for (const [k, v] of Object.entries(counted)) if (k.slice(0, k.lastIndexOf(' ')) === kind) n += v;
  return n;
}

/** The expectations a scenario missed, each as a sentence; empty when the server counted what it should. */
export function mismatches(r: ScenarioResult): string[] {
  const out: string[] = [];
  for (const e of r.expected) {
    const n = countedFor(r.counted, e.kind);
    const ok = e.match === 'exact' ? n === e.count : n >= e.count;
    if (!ok) out.push(`${r.name}: ${e.kind} counted ${n}, expected ${e.match === 'exact' ? '' : 'at least '}${e.count} (${e.why})`);
  }
  return out;
}

/** The scenario's counts as table rows: `VERB resource`, by code at the server, sent, expected. */
export function countRows(r: ScenarioResult): { kind: string; counted: number; byCode: string; sent: number | undefined; expected: string }[] {
  const kinds = new Set<string>([...Object.keys(r.counted).map((k) => k.slice(0, k.lastIndexOf(' '))), ...Object.keys(r.sent), ...r.expected.map((e) => e.kind)]);
  return [...kinds].sort().map((kind) => {
    const codes = Object.entries(r.counted)
      .filter(([k]) => k.slice(0, k.lastIndexOf(' ')) === kind)
      .map(([k, n]) => `${k.slice(k.lastIndexOf(' ') + 1)}: ${n}`)
      .join(', ');
    const e = r.expected.find((x) => x.kind === kind);
    const counted = countedFor(r.counted, kind);
    const verdict = e ? ((e.match === 'exact' ? counted === e.count : counted >= e.count) ? 'ok' : 'MISMATCH') : '';
    return { kind, counted, byCode: codes, sent: r.sent[kind as SentKind], expected: e ? `${e.match === 'exact' ? '' : '≥ '}${e.count} ${verdict}` : '' };
  });
}

/** The rows as aligned text lines. */
export function countTable(r: ScenarioResult): string[] {
  const rows = countRows(r);
  const head = ['request', 'at the server (by code)', 'sent by the agents', 'expected'];
  const cells = rows.map((x) => [x.kind, `${x.counted}${x.byCode && !x.byCode.startsWith('-:') ? ` (${x.byCode})` : ''}`, String(x.sent ?? 0), x.expected]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const fmt = (c: string[]) => `    ${c.map((s, i) => s.padEnd(widths[i]!)).join('  ')}`.trimEnd();
  return [fmt(head), ...cells.map(fmt)];
}

interface Run {
  converged?: number;
  settleMs: number;
  recovered?: number;
  outage?: string;
}

async function measured(ctx: FleetContext, name: string, expected: Expectation[], body: () => Promise<Run>): Promise<ScenarioResult> {
  const before = await ctx.server.counts();
  ctx.fleet.clearSent();
  const from = ctx.clock.now();
  const { converged, settleMs, recovered, outage } = await body();
  const at = converged ?? ctx.clock.now();
  // Anything the agents would send twice (a second write, a retry) is sent within the settle time.
  await ctx.clock.sleep(settleMs);
  const to = ctx.clock.now();
  const counted = countsSince(before, await ctx.server.counts());
  return { name, counted, sent: ctx.fleet.sentCounts(from, to), expected, from, converged: at, to, ...(recovered !== undefined ? { recovered } : {}), ...(outage ? { outage } : {}) };
}

const everyNode = (ctx: FleetContext, value: string, what: string) =>
  waitFor(what, () => ctx.fleet.labelled(value) === ctx.fleet.names.length, { timeoutMs: ctx.timeoutMs ?? 900_000, everyMs: 20 }).then(() => ctx.clock.now());

/** Every agent starts in the same instant; ends `settleMs` after every node carries release=v1. */
export function firstLabels(ctx: FleetContext, settleMs: number): Promise<ScenarioResult> {
  return measured(ctx, 'first labels', expectations.firstLabels(ctx.fleet.names.length), async () => {
    ctx.fleet.start();
    return { converged: await everyNode(ctx, 'v1', 'first labels on every node'), settleMs };
  });
}

/** Nothing changes for `agentMs`. */
export function steadyState(ctx: FleetContext, agentMs: number): Promise<ScenarioResult> {
  return measured(ctx, 'steady state', expectations.steady(), async () => ({ settleMs: agentMs }));
}

/** The `release` tag changes to `value` on every VM at once. */
export function tagChange(ctx: FleetContext, value: string, settleMs: number): Promise<ScenarioResult> {
  return measured(ctx, 'tag change', expectations.tagChange(ctx.fleet.names.length), async () => {
    ctx.fleet.setRelease(value);
    return { converged: await everyNode(ctx, value, 'every node to carry the new tag'), settleMs };
  });
}

/** The server goes away for `agentMs`; the tag changes to `value` meanwhile. */
export function outage(ctx: FleetContext, agentMs: number, value: string, settleMs: number): Promise<ScenarioResult> {
  return measured(ctx, 'outage', expectations.outage(ctx.fleet.names.length), async () => {
    const { description, back } = await ctx.server.outage(agentMs, ctx.clock, () => ctx.fleet.setRelease(value));
    return { recovered: back, converged: await everyNode(ctx, value, 'every node to carry the tag set during the outage'), settleMs, outage: description };
  });
}
