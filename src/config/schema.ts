import * as z from 'zod';
import {
  DEFAULT_PREFIX,
  keyProblems,
  MAX_PREFIX_LENGTH_WITH_DEFAULT_TAG_PREFIX,
  prefixesOf,
  prefixProblem,
  RESERVED_DOMAIN_PATTERN,
  RESERVED_DOMAINS_RULE,
} from '../keys/keys.ts';
import { DNS_SUBDOMAIN_MAX_LENGTH, DNS_SUBDOMAIN_PATTERN } from '../keys/names.ts';
import { nodeIdentityProblems } from '../keys/nodeRestriction.ts';
import { DURATION_EXAMPLES, DURATION_PATTERN, formatDuration, parseDuration } from './duration.ts';

/**
 * The agent's configuration, and beside each rule z.toJSONSchema cannot see (a transform, a
 * refinement, a rule across fields) its JSON Schema form. scripts/gen/values-schema.ts turns the
 * schema into the `config` part of the chart's values.schema.json and values.yaml at build time,
 * so the chart and the agent cannot drift apart; here the forms are only plain objects.
 */
export type JsonSchema = { [keyword: string]: unknown };

/**
 * zod validates without generating code (new Function): the config is parsed once, and under
 * --jitless compiling a fast path for each object schema costs more than it saves (first parse
 * 9 ms of CPU with it, 4 ms without). Each schema reads this setting when it is built, so it is
 * set here, before any schema below.
 */
z.config({ jitless: true });

// Descriptions go in with .register(z.globalRegistry, { description }), which z.toJSONSchema
// reads: .describe() would clone every described schema when the agent starts.

/** `replace`: what z.toJSONSchema makes of the part is replaced; `add`: keywords added to it. */
export interface JsonSchemaForm {
  replace?: JsonSchema;
  add?: JsonSchema;
}

const forms = new Map<z.ZodType, JsonSchemaForm>();

/** The forms, by the schema part they belong to: the outermost one, as it sits in its object. */
export const jsonSchemaForms: ReadonlyMap<z.ZodType, JsonSchemaForm> = forms;

const withJsonSchema = <T extends z.ZodType>(schema: T, form: JsonSchemaForm): T => {
  forms.set(schema, form);
  return schema;
};

/** "Between 1s and 1h." or "At most 1h.", in descriptions: the duration helper's and the generator's for numbers. */
export function rangeSentence(min: string | undefined, max: string | undefined, minExclusive = false): string {
  if (min !== undefined && max !== undefined) return minExclusive ? `Above ${min}, at most ${max}.` : `Between ${min} and ${max}.`;
  if (max !== undefined) return `At most ${max}.`;
  if (min !== undefined) return minExclusive ? `Above ${min}.` : `At least ${min}.`;
  return '';
}

/** Definitions the forms refer to, in values.schema.json's `definitions`. */
export const JSON_SCHEMA_DEFINITIONS: Record<'duration' | 'labelPrefix', JsonSchema> = {
  duration: {
    description: `${DURATION_EXAMPLES.replace(/^a /, 'A ')} (units ms, s, m, h).`,
    $comment:
      "The if/then names the expected form in the error message: JSON Schema has no custom messages. A field's bounds are in its description; JSON Schema cannot compare durations, so the agent checks them when it starts.",
    type: 'string',
    pattern: DURATION_PATTERN,
    if: { type: 'string', not: { pattern: DURATION_PATTERN } },
    then: { const: `<${DURATION_EXAMPLES}>` },
  },
  labelPrefix: {
    description: `A lowercase DNS subdomain such as ${DEFAULT_PREFIX}, at most ${DNS_SUBDOMAIN_MAX_LENGTH} characters; ${RESERVED_DOMAINS_RULE}.`,
    $comment: 'The if/then names the rule in the error message: JSON Schema has no custom messages.',
    type: 'string',
    maxLength: DNS_SUBDOMAIN_MAX_LENGTH,
    pattern: DNS_SUBDOMAIN_PATTERN,
    if: { type: 'string', pattern: RESERVED_DOMAIN_PATTERN },
    then: { const: `<a prefix of your own: ${RESERVED_DOMAINS_RULE}>` },
  },
};

const ref = (name: keyof typeof JSON_SCHEMA_DEFINITIONS) => ({ $ref: `#/definitions/${name}` });
import { EVENT_TYPES } from '../imds/scheduledEvents.ts';

/**
 * A duration written as "60s"/"500ms" or as a number of milliseconds; always milliseconds inside.
 * Every duration has a maximum: past 2^31−1 ms (24.8 days) a Node timer fires after 1 ms, and
 * far below that a value is a typo (700h for a watch timeout) that would make the agent either
 * silent or a hot loop. `min` keeps waits that must not be zero away from zero.
 */
const duration = (fallback: string, bounds: { min?: string; max: string }, description: string) => {
  const min = bounds.min === undefined ? 0 : parseDuration(bounds.min)!;
  const max = parseDuration(bounds.max)!;
  const schema = z
    .union([z.number().int().nonnegative(), z.string()])
    .default(fallback)
    .transform((value, ctx) => {
      const ms = typeof value === 'number' ? value : parseDuration(value);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not ${DURATION_EXAMPLES}` });
        return z.NEVER;
      }
      if (ms < min || ms > max) {
        const shown = typeof value === 'number' ? `${value}ms` : `"${value}"`;
        ctx.addIssue({ code: 'custom', message: `${shown} is out of range: must be ${min > 0 ? `at least ${formatDuration(min)} and ` : ''}at most ${formatDuration(max)}` });
        return z.NEVER;
      }
      return ms;
    })
    .register(z.globalRegistry, { description: `${description} ${rangeSentence(min > 0 ? formatDuration(min) : undefined, formatDuration(max))}` });
  return withJsonSchema(schema, {
    replace: { anyOf: [{ type: 'integer', minimum: min, maximum: max, $comment: 'milliseconds' }, { allOf: [ref('duration')] }] },
  });
};

/** A label prefix or tag prefix; what the two derive together is checked on the whole config. */
const prefixRule = (p: string, ctx: z.RefinementCtx) => {
  const message = prefixProblem(p);
  if (message) ctx.addIssue({ code: 'custom', message });
};

/** IMDS is plain HTTP on a host name or an IP address; no user, query or fragment. */
const HTTP_URL_PATTERN = '^http://([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+\\])(:[0-9]{1,5})?(/[^\\s?#]*)?$';
const HTTP_URL = new RegExp(HTTP_URL_PATTERN);
const httpUrl = (fallback: string, description: string) =>
  withJsonSchema(
    z
      .string()
      .refine((u) => HTTP_URL.test(u) && URL.canParse(u), 'must be an http:// URL of a host and port (IMDS is plain HTTP)')
      .default(fallback)
      .register(z.globalRegistry, { description: description }),
    {
      replace: {
        type: 'string',
        pattern: HTTP_URL_PATTERN,
        $comment: 'The agent also parses the URL when it starts: a port above 65535 or an IP address that is none is refused there.',
      },
    },
  );

export const EXTRAS = ['spot', 'security', 'physicalZone', 'subFaultDomain', 'osType', 'hostGroup'] as const;
export type Extra = (typeof EXTRAS)[number];

/**
 * Who the agent is to the API server: its service account (the admission policy narrows it to its
 * own node and keys), or its node, `system:node:<nodeName>`, by constrained impersonation
 * (Kubernetes 1.36+; the Node authorizer and NodeRestriction narrow it). docs/security.md compares them.
 */
export const KUBE_IDENTITIES = ['serviceAccount', 'node'] as const;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** IMDS throttles above 5 requests/second per VM; the agent's rate plus its burst stays under that. */
const IMDS_REQUEST_BUDGET = 4;
const BURST = { min: 1, max: 2, fallback: 2 } as const;

/** requestsPerSecond + burst ≤ the budget, as JSON Schema: the burst is a small whole number, so one if/then per value. */
const rateLimitForm = (): JsonSchema => {
  const atMost = (burst: number) => ({ then: { properties: { requestsPerSecond: { type: 'number', maximum: IMDS_REQUEST_BUDGET - burst } } } });
  const cases = [];
  for (let burst = BURST.min; burst <= BURST.max; burst++) cases.push({ if: { properties: { burst: { const: burst } }, required: ['burst'] }, ...atMost(burst) });
  cases.push({ if: { not: { required: ['burst'] } }, ...atMost(BURST.fallback) });
  return { $comment: `requestsPerSecond + burst must stay at or below ${IMDS_REQUEST_BUDGET}: one case per burst.`, allOf: cases };
};

export const configSchema = z
  .strictObject({
    imds: z
      .strictObject({
        endpoint: httpUrl('http://169.254.169.254', 'Base URL of the Azure Instance Metadata Service. Plain HTTP: IMDS serves no TLS.'),
        apiVersion: z
          .string()
          .regex(/^\d{4}-\d{2}-\d{2}$/, 'must look like 2025-04-07')
          .default('2025-04-07')
          .register(z.globalRegistry, { description: 'IMDS api-version asked for first; the agent falls back to older versions that IMDS lists, and asks for this one again every 10 minutes.' }),
        connectTimeout: duration('2s', { min: '1ms', max: '1m' }, 'TCP connect timeout of one IMDS request.'),
        requestTimeout: duration('5s', { min: '1ms', max: '5m' }, 'Whole-request timeout of one IMDS request.'),
        maxResponseBytes: z
          .number()
          .int()
          .min(1024)
          .max(16 * 1024 * 1024)
          .default(1024 * 1024)
          .register(z.globalRegistry, { description: 'Largest IMDS response accepted, in bytes.' }),
        rateLimit: withJsonSchema(
          z
            .strictObject({
              requestsPerSecond: z
                .number()
                .positive()
                .max(IMDS_REQUEST_BUDGET)
                .default(2)
                .register(z.globalRegistry, { description: `Steady IMDS request rate of the process. IMDS throttles above 5 requests/second per VM, shared with everything else on the VM; requestsPerSecond + burst must stay at or below ${IMDS_REQUEST_BUDGET}.` }),
              burst: z.number().int().min(BURST.min).max(BURST.max).default(BURST.fallback).register(z.globalRegistry, { description: 'Requests allowed at once above the steady rate.' }),
            })
            .prefault({})
            .refine((r) => r.requestsPerSecond + r.burst <= IMDS_REQUEST_BUDGET, {
              message: `requestsPerSecond + burst must stay at or below ${IMDS_REQUEST_BUDGET}, under IMDS's limit of 5 per second`,
            }),
          { add: rateLimitForm() },
        ),
        retryBudget: duration('70s', { max: '1h' }, 'How long the retries of one poll may go on (IMDS answers 410 for up to 70s after boot).'),
      })
      .prefault({}),
    poll: z
      .strictObject({
        period: duration('60s', { min: '100ms', max: '24h' }, 'Time between IMDS polls. Fault/update domain and tags change rarely; 60s is plenty.'),
        jitter: z.number().min(0).max(0.5).default(0.2).register(z.globalRegistry, { description: 'Random spread of each period, as a fraction of it, so nodes do not poll in step.' }),
        initialDelay: duration('0s', { max: '1h' }, 'Delay before the first poll.'),
      })
      .prefault({}),
    labels: withJsonSchema(
      z
        .strictObject({
          prefix: withJsonSchema(
            z
              .string()
              .superRefine(prefixRule)
              .default(DEFAULT_PREFIX)
              .register(z.globalRegistry, { description: 
                `Prefix of every label and annotation the agent writes: a lowercase DNS subdomain, at most ${MAX_PREFIX_LENGTH_WITH_DEFAULT_TAG_PREFIX} characters when tagPrefix is empty, so that tags.<prefix> fits in ${DNS_SUBDOMAIN_MAX_LENGTH}; ${RESERVED_DOMAINS_RULE}.`,
               }),
            { replace: { allOf: [ref('labelPrefix')] } },
          ),
          // "" is unset (src/keys prefixesOf).
          tagPrefix: withJsonSchema(
            z
              .string()
              .superRefine((p, ctx) => {
                if (p !== '') prefixRule(p, ctx);
              })
              .optional()
              .register(z.globalRegistry, { description: 'Prefix of the VM-tag labels. Empty means "tags." + prefix.' }),
            { replace: { anyOf: [{ type: 'string', maxLength: 0 }, ref('labelPrefix')] } },
          ),
          tags: z
            .strictObject({
              include: z.array(z.string().min(1)).default(['*']).register(z.globalRegistry, { description: 'Globs of VM tag names to turn into labels ("*" = every tag).' }),
              exclude: z.array(z.string().min(1)).default([]).register(z.globalRegistry, { description: 'Globs of VM tag names to leave out; wins over include.' }),
            })
            .prefault({}),
          extras: z.array(z.enum(EXTRAS)).default([]).register(z.globalRegistry, { description: `Optional label groups: ${EXTRAS.join(', ')}.` }),
          wellKnown: z
            .boolean()
            .default(false)
            .register(z.globalRegistry, { description: 
              'Also write topology.kubernetes.io/zone, topology.kubernetes.io/region and node.kubernetes.io/instance-type. Off by default: cloud-provider-azure owns them on AKS; turn on for clusters without a cloud provider.',
             }),
        })
        .prefault({}),
      {
        // keyProblems' rule for the derived tag prefix, in the form JSON Schema has for it.
        add: {
          $comment: `With the tag prefix defaulted to tags. + prefix, the prefix must leave room for those ${DNS_SUBDOMAIN_MAX_LENGTH - MAX_PREFIX_LENGTH_WITH_DEFAULT_TAG_PREFIX} characters within ${DNS_SUBDOMAIN_MAX_LENGTH}.`,
          if: { properties: { tagPrefix: { type: 'string', maxLength: 0 } } },
          then: { properties: { prefix: { type: 'string', maxLength: MAX_PREFIX_LENGTH_WITH_DEFAULT_TAG_PREFIX } } },
        },
      },
    ),
    kube: z
      .strictObject({
        nodeName: z.string().optional().register(z.globalRegistry, { description: 'The node to label.' }),
        kubeconfig: z.string().optional().register(z.globalRegistry, { description: "Kubeconfig file, or files separated by ':' merged as kubectl does." }),
        context: z.string().min(1).optional().register(z.globalRegistry, { description: 'Kubeconfig context to use instead of its current-context.' }),
        credentialTimeout: duration('30s', { min: '100ms', max: '10m' }, 'How long a kubeconfig exec credential plugin may take before it is stopped.'),
        resyncPeriod: duration('10m', { min: '1s', max: '24h' }, 'Periodic full reconcile of the node, jittered.'),
        watchTimeout: duration('5m', { min: '1s', max: '1h' }, 'Server-side timeout of the node watch, jittered.'),
        events: z.boolean().default(true).register(z.globalRegistry, { description: 'Emit a Kubernetes Event (reason LabelsUpdated) on the node when its labels change.' }),
        identity: z
          .enum(KUBE_IDENTITIES)
          .default('serviceAccount')
          .register(z.globalRegistry, { description: 'Who the agent acts as: its service account (narrowed by the admission policy), or its node, system:node:<name>, by constrained impersonation (Kubernetes 1.36+).' }),
      })
      .prefault({}),
    scheduledEvents: z
      .strictObject({
        enabled: z
          .boolean()
          .default(false)
          .register(z.globalRegistry, { description: 'Poll Azure Scheduled Events and show this VM\'s on the node: a condition (through nodes/status), an annotation with the next event, Events and metrics.' }),
        period: duration('10s', { min: '1s', max: '5m' }, 'Time between scheduled-events polls; the calls share the IMDS rate limiter with the instance polls. 10s is 0.1 request/s of the VM\'s 5 and still sees a Preempt (30 s notice) in time.'),
        firstCallTimeout: duration('150s', { min: '1s', max: '10m' }, 'Timeout of the first call and of every call after a failure: the service may be off, and Azure answers the call that turns it on in up to two minutes.'),
        disruptive: z
          .array(z.enum(EVENT_TYPES))
          .default(['Reboot', 'Redeploy', 'Preempt', 'Terminate'])
          .register(z.globalRegistry, { description: 'Event types that set the condition True (and the taint, when on); the others (Freeze, a live migration, by default) are informational.' }),
        taint: z
          .boolean()
          .default(false)
          .register(z.globalRegistry, { description: 'Taint the node NoSchedule (<prefix>/maintenance) while a disruptive event is pending, and remove the taint once it is gone.' }),
      })
      .prefault({})
      .register(z.globalRegistry, { description: 'Azure Scheduled Events on the node, off by default.' }),
    server: z
      .strictObject({
        port: z.number().int().min(0).max(65535).default(9721).register(z.globalRegistry, { description: 'Port of /metrics, /healthz and /readyz; 0 takes any free port.' }),
        address: z.string().min(1).default('0.0.0.0').register(z.globalRegistry, { description: 'Address the metrics and health server binds to.' }),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: z.enum(LOG_LEVELS).default('info').register(z.globalRegistry, { description: `Log level: ${LOG_LEVELS.join(', ')}.` }),
        format: z.enum(['json', 'pretty']).default('json').register(z.globalRegistry, { description: 'Log format: json, or pretty for reading by eye.' }),
      })
      .prefault({}),
    dryRun: z.boolean().default(false).register(z.globalRegistry, { description: 'Log the changes the agent would make and write nothing to the node.' }),
  })
  .transform((c, ctx) => {
    // Each prefix is valid on its own here; the tag prefix the label prefix derives may not be.
    for (const problem of keyProblems(c.labels)) ctx.addIssue({ code: 'custom', path: ['labels', problem.field], message: problem.message });
    if (c.kube.identity === 'node') for (const problem of nodeIdentityProblems(c.labels)) ctx.addIssue({ code: 'custom', path: ['labels', problem.field], message: problem.message });
    // NodeRestriction refuses every taint change by a node, and node mode's RBAC grants no nodes/status.
    if (c.kube.identity === 'node' && c.scheduledEvents.enabled) {
      ctx.addIssue({ code: 'custom', path: ['scheduledEvents', 'enabled'], message: 'scheduled events need kube.identity serviceAccount: acting as its node, the agent may not write nodes/status or taints' });
    }
    return { ...c, labels: { ...c.labels, ...prefixesOf(c.labels) } };
  });

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
