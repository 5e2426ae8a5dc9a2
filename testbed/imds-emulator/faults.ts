import * as z from 'zod';
import { FaultPlanError, decodePlanText, parsePlan, readPlanFile } from '../faultPlan.ts';

/**
 * The fault plan: what the emulator does wrong, and where. Each fault targets a path prefix and
 * carries one action; the first active fault whose prefix matches a request decides what that
 * request gets. Faults with a count (`statuses`, `times`) are used up one request at a time;
 * `forSeconds` starts at the first request the fault matches.
 */

const httpStatus = z
  .number({ error: 'expected an HTTP status code such as 500' })
  .int({ error: 'expected an HTTP status code such as 500' })
  .min(200, { error: 'an HTTP status code from 200 to 599' })
  .max(599, { error: 'an HTTP status code from 200 to 599' });

const flag = z.boolean({ error: 'expected true or false' });

export const ACTIONS = ['status', 'statuses', 'hang', 'slowDrip', 'truncate', 'malformed', 'html', 'hugeBody', 'deepNesting', 'reset', 'mislabel'] as const;

const faultSchema = z
  .strictObject({
    /** Path prefix, on segment boundaries: "/metadata/instance" matches "/metadata/instance/compute/zone". */
    path: z
      .string({ error: 'expected a path such as /metadata/instance' })
      .startsWith('/', { error: 'must start with "/", such as /metadata/instance' })
      .default('/metadata'),
    /** Apply to the first N matching requests, then stand aside. */
    times: z.number().int().positive().optional(),
    /** Apply for this long after the first matching request, then stand aside. */
    forSeconds: z.number().positive().optional(),
    /** Retry-After header (seconds) on the status answers of this fault. */
    retryAfter: z.number().int().nonnegative().optional(),
    /** Delay before answering (alone: delay, then answer normally). */
    latencyMs: z.number().int().nonnegative().max(3_600_000).optional(),
    status: httpStatus.optional(),
    statuses: z.array(httpStatus).min(1, { error: 'list at least one status' }).optional(),
    hang: flag.optional(),
    slowDrip: z
      .strictObject({
        bytes: z.number().int().positive().default(1),
        intervalMs: z.number().int().positive().default(1000),
      })
      .optional(),
    truncate: z.union([flag, z.strictObject({ afterBytes: z.number().int().nonnegative() })], {
      error: 'expected true or { afterBytes: N }',
    }).optional(),
    malformed: flag.optional(),
    html: z.union([z.literal(true), httpStatus], { error: 'expected true (500) or the HTTP status of the HTML page, such as 200 or 500' }).optional(),
    hugeBody: z.strictObject({ mebibytes: z.number().positive().max(4096) }).optional(),
    deepNesting: z.strictObject({ levels: z.number().int().positive().max(1_000_000) }).optional(),
    reset: flag.optional(),
    /**
     * The real answer (the instance document, tags and all) under another status or content
     * type: what a broken IMDS or a proxy that rewrites headers sends.
     */
    mislabel: z
      .strictObject({ status: httpStatus.optional(), contentType: z.string().min(1).optional() })
      .refine((m) => m.status !== undefined || m.contentType !== undefined, { error: 'give status, contentType or both' })
      .optional(),
  })
  .superRefine((fault, ctx) => {
    const chosen = ACTIONS.filter((a) => fault[a] !== undefined && fault[a] !== false);
    if (chosen.length > 1) {
      ctx.addIssue({ code: 'custom', message: `a fault has one action; this one has ${chosen.join(' and ')}: split it into two faults` });
    }
    if (chosen.length === 0 && fault.latencyMs === undefined) {
      ctx.addIssue({ code: 'custom', message: `a fault needs an action: one of ${ACTIONS.join(', ')}, or latencyMs` });
    }
    if (fault.statuses !== undefined && (fault.times !== undefined || fault.forSeconds !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['statuses'], message: 'statuses is used up one per request: drop times and forSeconds' });
    }
  });

const apiVersion = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'expected an api-version such as 2021-02-01' });

export const faultPlanSchema = z.strictObject({
  /** The api-versions the emulated VM answers; others get 400. Default: every known version. */
  supportedVersions: z.array(apiVersion).min(1, { error: 'list at least one api-version' }).optional(),
  /** Overrides the emulator's rate limit (requests per second, 0 disables). */
  rateLimitPerSecond: z.number().int().nonnegative().optional(),
  faults: z.array(faultSchema).default([]),
});

/** A fault plan as written: in a faults file, a control request or a setFaults call. */
export type FaultPlan = z.input<typeof faultPlanSchema>;
export type FaultSpec = z.input<typeof faultSchema>;
/** A validated plan, defaults filled in. */
export type ResolvedFaultPlan = z.output<typeof faultPlanSchema>;
type ResolvedFault = ResolvedFaultPlan['faults'][number];

export { FaultPlanError };

/** Validates a plan; throws FaultPlanError naming the first offending field. */
export function parseFaultPlan(input: unknown, source = 'fault plan'): ResolvedFaultPlan {
  return parsePlan(faultPlanSchema, input, source, knownKeys);
}

function knownKeys(path: readonly PropertyKey[]): string {
  const last = path.at(-1);
  if (path.length === 0) return Object.keys(faultPlanSchema.shape).join(', ');
  if (typeof last === 'number') return ['path', 'times', 'forSeconds', 'retryAfter', 'latencyMs', ...ACTIONS].join(', ');
  if (last === 'slowDrip') return 'bytes, intervalMs';
  if (last === 'truncate') return 'afterBytes';
  if (last === 'hugeBody') return 'mebibytes';
  if (last === 'mislabel') return 'status, contentType';
  if (last === 'deepNesting') return 'levels';
  return '?';
}

/** Reads a faults file, YAML or JSON. Throws FaultPlanError. */
export function readFaultPlanFile(path: string): ResolvedFaultPlan {
  return parseFaultPlanText(readPlanFile(path), path);
}

export function parseFaultPlanText(text: string, source: string): ResolvedFaultPlan {
  return parseFaultPlan(decodePlanText(text, source), source);
}

// ---------------------------------------------------------------------------------------------
// Deciding, request by request

/** What one request gets. `none` answers normally (after latencyMs, if any). */
export type FaultAction =
  | { kind: 'none' }
  | { kind: 'status'; status: number }
  | { kind: 'hang' }
  | { kind: 'slowDrip'; bytes: number; intervalMs: number }
  | { kind: 'truncate'; afterBytes: number | undefined }
  | { kind: 'malformed' }
  | { kind: 'html'; status: number }
  | { kind: 'hugeBody'; bytes: number }
  | { kind: 'reset' }
  | { kind: 'mislabel'; status: number | undefined; contentType: string | undefined }
  | { kind: 'deepNesting'; levels: number };

export interface FaultDecision {
  action: FaultAction;
  latencyMs: number;
  retryAfter: number | undefined;
  /** Index of the fault in the plan. */
  index: number;
}

interface FaultState {
  used: number;
  startedAt: number | undefined;
  /** Once over, a fault stays over, even if the clock is set back. */
  over: boolean;
}

/** True when `path` is `prefix` or lies under it. Case-insensitive, as IMDS paths are. */
export function underPrefix(path: string, prefix: string): boolean {
  const p = path.toLowerCase();
  const base = prefix.toLowerCase().replace(/\/+$/, '');
  return base === '' || p === base || p.startsWith(`${base}/`);
}

export class FaultEngine {
  readonly plan: ResolvedFaultPlan;
  readonly #state: FaultState[];

  constructor(plan: ResolvedFaultPlan) {
    this.plan = plan;
    this.#state = plan.faults.map(() => ({ used: 0, startedAt: undefined, over: false }));
  }

  /** The fault this request gets, if any, using it up by one. */
  decide(path: string, now: number): FaultDecision | undefined {
    for (const [index, fault] of this.plan.faults.entries()) {
      const state = this.#state[index]!;
      if (!underPrefix(path, fault.path) || !active(fault, state, now)) continue;
      const action = actionOf(fault, state.used);
      state.startedAt ??= now;
      state.used++;
      return { action, latencyMs: fault.latencyMs ?? 0, retryAfter: fault.retryAfter, index };
    }
    return undefined;
  }
}

function active(fault: ResolvedFault, state: FaultState, now: number): boolean {
  if (state.over) return false;
  const over =
    (fault.statuses !== undefined && state.used >= fault.statuses.length) ||
    (fault.times !== undefined && state.used >= fault.times) ||
    (fault.forSeconds !== undefined && state.startedAt !== undefined && now - state.startedAt >= fault.forSeconds * 1000);
  state.over = over;
  return !over;
}

function actionOf(fault: ResolvedFault, used: number): FaultAction {
  if (fault.statuses !== undefined) {
    const status = fault.statuses[used]!;
    return status === 200 ? { kind: 'none' } : { kind: 'status', status };
  }
  if (fault.status !== undefined) return fault.status === 200 ? { kind: 'none' } : { kind: 'status', status: fault.status };
  if (fault.hang) return { kind: 'hang' };
  if (fault.slowDrip) return { kind: 'slowDrip', bytes: fault.slowDrip.bytes, intervalMs: fault.slowDrip.intervalMs };
  if (fault.truncate) return { kind: 'truncate', afterBytes: fault.truncate === true ? undefined : fault.truncate.afterBytes };
  if (fault.malformed) return { kind: 'malformed' };
  if (fault.html !== undefined) return { kind: 'html', status: fault.html === true ? 500 : fault.html };
  if (fault.hugeBody) return { kind: 'hugeBody', bytes: Math.ceil(fault.hugeBody.mebibytes * 1024 * 1024) };
  if (fault.deepNesting) return { kind: 'deepNesting', levels: fault.deepNesting.levels };
  if (fault.reset) return { kind: 'reset' };
  if (fault.mislabel) return { kind: 'mislabel', status: fault.mislabel.status, contentType: fault.mislabel.contentType };
  return { kind: 'none' };
}
