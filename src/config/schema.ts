import * as z from 'zod';
import { EVENT_TYPES } from '../imds/scheduledEvents.ts';
import { DEFAULT_PREFIX, keyProblems, prefixesOf, prefixProblem } from '../keys/keys.ts';
import { formatDuration, parseDuration } from './duration.ts';

/**
 * A duration written as "60s"/"500ms" or as a number of milliseconds; always milliseconds inside.
 * Every duration has a maximum: past 2^31−1 ms (24.8 days) a Node timer fires after 1 ms, and
 * far below that a value is a typo (700h for a watch timeout) that would make the agent either
 * silent or a hot loop. `min` keeps waits that must not be zero away from zero.
 */
const duration = (fallback: string, bounds: { min?: string; max: string }) => {
  const min = bounds.min === undefined ? 0 : parseDuration(bounds.min)!;
  const max = parseDuration(bounds.max)!;
  return z
    .union([z.number().int().nonnegative(), z.string()])
    .default(fallback)
    .transform((value, ctx) => {
      const ms = typeof value === 'number' ? value : parseDuration(value);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration such as 500ms, 60s, 5m or 1h` });
        return z.NEVER;
      }
      if (ms < min || ms > max) {
        const shown = typeof value === 'number' ? `${value}ms` : `"${value}"`;
        ctx.addIssue({ code: 'custom', message: `${shown} is out of range: must be ${min > 0 ? `at least ${formatDuration(min)} and ` : ''}at most ${formatDuration(max)}` });
        return z.NEVER;
      }
      return ms;
    });
};

/** A label prefix or tag prefix; what the two derive together is checked on the whole config. */
const labelPrefix = z.string().superRefine((p, ctx) => {
  const message = prefixProblem(p);
  if (message) ctx.addIssue({ code: 'custom', message });
});

const httpUrl = z
  .string()
  .refine((u) => URL.canParse(u) && new URL(u).protocol === 'http:', 'must be an http:// URL (IMDS is plain HTTP)');

export const EXTRAS = ['spot', 'security', 'physicalZone', 'subFaultDomain', 'osType', 'hostGroup'] as const;
export type Extra = (typeof EXTRAS)[number];

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export const configSchema = z
  .strictObject({
    imds: z
      .strictObject({
        endpoint: httpUrl.default('http://169.254.169.254'),
        apiVersion: z
          .string()
          .regex(/^\d{4}-\d{2}-\d{2}$/, 'must look like 2025-04-07')
          .default('2025-04-07'),
        connectTimeout: duration('2s', { min: '1ms', max: '1m' }),
        requestTimeout: duration('5s', { min: '1ms', max: '5m' }),
        maxResponseBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(1024 * 1024),
        /** Shared by every IMDS call of the process. IMDS throttles above 5 requests/second per VM. */
        rateLimit: z
          .strictObject({
            requestsPerSecond: z.number().positive().max(4).default(2),
            burst: z.number().int().min(1).max(2).default(2),
          })
          .prefault({})
          .refine((r) => r.requestsPerSecond + r.burst <= 4, {
            message: 'requestsPerSecond + burst must stay at or below 4, under IMDS\'s limit of 5 per second',
          }),
        /** How long retries of one poll may go on; 410 is retried for up to 70 s. */
        retryBudget: duration('70s', { max: '1h' }),
      })
      .prefault({}),
    poll: z
      .strictObject({
        period: duration('60s', { min: '100ms', max: '24h' }),
        jitter: z.number().min(0).max(0.5).default(0.2),
        initialDelay: duration('0s', { max: '1h' }),
      })
      .prefault({}),
    labels: z
      .strictObject({
        prefix: labelPrefix.default(DEFAULT_PREFIX),
        /** Defaults to "tags." + prefix. */
        tagPrefix: labelPrefix.optional(),
        tags: z
          .strictObject({
            include: z.array(z.string().min(1)).default(['*']),
            exclude: z.array(z.string().min(1)).default([]),
          })
          .prefault({}),
        extras: z.array(z.enum(EXTRAS)).default([]),
        /** Opt-in: topology.kubernetes.io/zone, topology.kubernetes.io/region, node.kubernetes.io/instance-type. */
        wellKnown: z.boolean().default(false),
      })
      .prefault({}),
    kube: z
      .strictObject({
        nodeName: z.string().optional(),
        kubeconfig: z.string().optional(),
        context: z.string().min(1).optional(),
        credentialTimeout: duration('30s', { min: '100ms', max: '10m' }),
        resyncPeriod: duration('10m', { min: '1s', max: '24h' }),
        watchTimeout: duration('5m', { min: '1s', max: '1h' }),
        events: z.boolean().default(true),
      })
      .prefault({}),
    scheduledEvents: z
      .strictObject({
        enabled: z
          .boolean()
          .default(false)
          .describe('Poll Azure Scheduled Events and show this VM\'s on the node: a condition (through nodes/status), an annotation with the next event, Events and metrics.'),
        period: duration('10s', { min: '1s', max: '5m' }).describe(
          'Time between scheduled-events polls; the calls share the IMDS rate limiter with the instance polls. 10s is 0.1 request/s of the VM\'s 5 and still sees a Preempt (30 s notice) in time.',
        ),
        firstCallTimeout: duration('150s', { min: '1s', max: '10m' }).describe(
          'Timeout of the first call and of every call after a failure: the service may be off, and Azure answers the call that turns it on in up to two minutes.',
        ),
        disruptive: z
          .array(z.enum(EVENT_TYPES))
          .default(['Reboot', 'Redeploy', 'Preempt', 'Terminate'])
          .describe('Event types that set the condition True (and the taint, when on); the others (Freeze, a live migration, by default) are informational.'),
        taint: z
          .boolean()
          .default(false)
          .describe('Taint the node NoSchedule (<prefix>/maintenance) while a disruptive event is pending, and remove the taint once it is gone.'),
      })
      .prefault({})
      .describe('Azure Scheduled Events on the node, off by default.'),
    server: z
      .strictObject({
        port: z.number().int().min(0).max(65535).default(9721),
        address: z.string().default('0.0.0.0'),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: z.enum(LOG_LEVELS).default('info'),
        format: z.enum(['json', 'pretty']).default('json'),
      })
      .prefault({}),
    dryRun: z.boolean().default(false),
  })
  .transform((c, ctx) => {
    // Each prefix is valid on its own here; the tag prefix the label prefix derives may not be.
    for (const problem of keyProblems(c.labels)) ctx.addIssue({ code: 'custom', path: ['labels', problem.field], message: problem.message });
    return { ...c, labels: { ...c.labels, ...prefixesOf(c.labels) } };
  });

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
