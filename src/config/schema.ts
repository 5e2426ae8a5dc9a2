import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
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
import { EVENT_TYPES } from '../imds/scheduledEvents.ts';
import { DURATION_EXAMPLES, DURATION_PATTERN, formatDuration, parseDuration } from './duration.ts';

/**
 * The agent's configuration, and beside each rule z.toJSONSchema cannot see (a transform, a
 * refinement, a rule across fields) its JSON Schema form. scripts/gen/values-schema.ts turns the
 * schema into the `config` part of the chart's values.schema.json and values.yaml at build time,
 * so the chart and the agent cannot drift apart; here the forms are only plain objects.
 */
export type JsonSchema = { [keyword: string]: unknown };

/**
 * zod's functional build (zod/mini): the same parser and messages as the method-chaining one,
 * but a schema is a plain object instead of one that gets every method attached when it is made.
 * The agent builds well over a hundred of them at every start, and under --jitless that attaching was most
 * of zod's start-up cost (docs/performance.md). Its English messages are loaded explicitly.
 *
 * zod validates without generating code (new Function): the config is parsed once, and under
 * --jitless compiling a fast path for each object schema costs more than it saves (first parse
 * 9 ms of CPU with it, 4 ms without). Each schema reads this setting when it is built, so it is
 * set here, before any schema below.
 */
z.config({ jitless: true, ...en() });

// Descriptions go in with .register(z.globalRegistry, { description }), which z.toJSONSchema
// reads: .describe() would clone every described schema when the agent starts.

/** `replace`: what z.toJSONSchema makes of the part is replaced; `add`: keywords added to it. */
export interface JsonSchemaForm {
  replace?: JsonSchema;
  add?: JsonSchema;
}

const forms = new Map<z.ZodMiniType, JsonSchemaForm>();

/** The forms, by the schema part they belong to: the outermost one, as it sits in its object. */
export const jsonSchemaForms: ReadonlyMap<z.ZodMiniType, JsonSchemaForm> = forms;

const withJsonSchema = <T extends z.ZodMiniType>(schema: T, form: JsonSchemaForm): T => {
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
/**
 * A problem found by a transform, at the transform's place (the object around it adds the path);
 * the transform's value is then never used.
 */
function refuse(ctx: z.core.ParsePayload, message: string, path: PropertyKey[] = []): never {
  ctx.issues.push({ code: 'custom', message, input: ctx.value, path });
  return z.NEVER;
}

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
    .pipe(
      z._default(z.union([z.number().check(z.int(), z.nonnegative()), z.string()]), fallback),
      z.transform((value: number | string, ctx) => {
        const ms = typeof value === 'number' ? value : parseDuration(value);
        if (ms === undefined) return refuse(ctx, `"${value}" is not ${DURATION_EXAMPLES}`);
        if (ms < min || ms > max) {
          const shown = typeof value === 'number' ? `${value}ms` : `"${value}"`;
          return refuse(ctx, `${shown} is out of range: must be ${min > 0 ? `at least ${formatDuration(min)} and ` : ''}at most ${formatDuration(max)}`);
        }
        return ms;
      }),
    )
    .register(z.globalRegistry, { description: `${description} ${rangeSentence(min > 0 ? formatDuration(min) : undefined, formatDuration(max))}` });
  return withJsonSchema(schema, {
    replace: { anyOf: [{ type: 'integer', minimum: min, maximum: max, $comment: 'milliseconds' }, { allOf: [ref('duration')] }] },
  });
};

/** A label prefix or tag prefix; what the two derive together is checked on the whole config. */
const prefixRule = (p: string, ctx: z.core.$RefinementCtx<string>) => {
  const message = prefixProblem(p);
  if (message) ctx.addIssue({ code: 'custom', message });
};

/** IMDS is plain HTTP on a host name or an IP address; no user, query or fragment. */
const HTTP_URL_PATTERN = '^http://([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+\\])(:[0-9]{1,5})?(/[^\\s?#]*)?$';
const HTTP_URL = new RegExp(HTTP_URL_PATTERN);
const httpUrl = (fallback: string, description: string) =>
  withJsonSchema(
    z
      ._default(z.string().check(z.refine((u) => HTTP_URL.test(u) && URL.canParse(u), 'must be an http:// URL of a host and port (IMDS is plain HTTP)')), fallback)
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

export const configSchema = z.pipe(
  z.strictObject({
    imds: z.prefault(
      z.strictObject({
        endpoint: httpUrl('http://169.254.169.254', 'Base URL of the Azure Instance Metadata Service. Plain HTTP: IMDS serves no TLS.'),
        apiVersion: z
          ._default(z.string().check(z.regex(/^\d{4}-\d{2}-\d{2}$/, 'must look like 2025-04-07')), '2025-04-07')
          .register(z.globalRegistry, { description: 'IMDS api-version asked for first; the agent falls back to older versions that IMDS lists, and asks for this one again every 10 minutes.' }),
        connectTimeout: duration('2s', { min: '1ms', max: '1m' }, 'TCP connect timeout of one IMDS request.'),
        requestTimeout: duration('5s', { min: '1ms', max: '5m' }, 'Whole-request timeout of one IMDS request.'),
        maxResponseBytes: z
          ._default(z.number().check(z.int(), z.minimum(1024), z.maximum(16 * 1024 * 1024)), 1024 * 1024)
          .register(z.globalRegistry, { description: 'Largest IMDS response accepted, in bytes.' }),
        rateLimit: withJsonSchema(
          z
            .prefault(
              z.strictObject({
                requestsPerSecond: z
                  ._default(z.number().check(z.positive(), z.maximum(IMDS_REQUEST_BUDGET)), 2)
                  .register(z.globalRegistry, { description: `Steady IMDS request rate of the process. IMDS throttles above 5 requests/second per VM, shared with everything else on the VM; requestsPerSecond + burst must stay at or below ${IMDS_REQUEST_BUDGET}.` }),
                burst: z._default(z.number().check(z.int(), z.minimum(BURST.min), z.maximum(BURST.max)), BURST.fallback).register(z.globalRegistry, { description: 'Requests allowed at once above the steady rate.' }),
              }),
              {},
            )
            .check(
              z.refine((r) => r.requestsPerSecond + r.burst <= IMDS_REQUEST_BUDGET, {
                message: `requestsPerSecond + burst must stay at or below ${IMDS_REQUEST_BUDGET}, under IMDS's limit of 5 per second`,
              }),
            ),
          { add: rateLimitForm() },
        ),
        retryBudget: duration('70s', { max: '1h' }, 'How long the retries of one poll may go on (IMDS answers 410 for up to 70s after boot).'),
      }),
      {},
    ),
    poll: z.prefault(
      z.strictObject({
        period: duration('60s', { min: '100ms', max: '24h' }, 'Time between IMDS polls. Fault/update domain and tags change rarely; 60s is plenty.'),
        jitter: z._default(z.number().check(z.minimum(0), z.maximum(0.5)), 0.2).register(z.globalRegistry, { description: 'Random spread of each period, as a fraction of it, so nodes do not poll in step.' }),
        initialDelay: duration('0s', { max: '1h' }, 'Delay before the first poll.'),
      }),
      {},
    ),
    labels: withJsonSchema(
      z.prefault(
        z.strictObject({
          prefix: withJsonSchema(
            z._default(z.string().check(z.superRefine(prefixRule)), DEFAULT_PREFIX).register(z.globalRegistry, {
              description: `Prefix of every label and annotation the agent writes: a lowercase DNS subdomain, at most ${MAX_PREFIX_LENGTH_WITH_DEFAULT_TAG_PREFIX} characters when tagPrefix is empty, so that tags.<prefix> fits in ${DNS_SUBDOMAIN_MAX_LENGTH}; ${RESERVED_DOMAINS_RULE}.`,
            }),
            { replace: { allOf: [ref('labelPrefix')] } },
          ),
          // "" is unset (src/keys prefixesOf).
          tagPrefix: withJsonSchema(
            z
              .optional(
                z.string().check(
                  z.superRefine((p, ctx) => {
                    if (p !== '') prefixRule(p, ctx);
                  }),
                ),
              )
              .register(z.globalRegistry, { description: 'Prefix of the VM-tag labels. Empty means "tags." + prefix.' }),
            { replace: { anyOf: [{ type: 'string', maxLength: 0 }, ref('labelPrefix')] } },
          ),
          tags: z.prefault(
            z.strictObject({
              include: z._default(z.array(z.string().check(z.minLength(1))), ['*']).register(z.globalRegistry, { description: 'Globs of VM tag names to turn into labels ("*" = every tag).' }),
              exclude: z._default(z.array(z.string().check(z.minLength(1))), []).register(z.globalRegistry, { description: 'Globs of VM tag names to leave out; wins over include.' }),
            }),
            {},
          ),
          extras: z._default(z.array(z.enum(EXTRAS)), []).register(z.globalRegistry, { description: `Optional label groups: ${EXTRAS.join(', ')}.` }),
          wellKnown: z._default(z.boolean(), false).register(z.globalRegistry, {
            description:
              'Also write topology.kubernetes.io/zone, topology.kubernetes.io/region and node.kubernetes.io/instance-type. Off by default: cloud-provider-azure owns them on AKS; turn on for clusters without a cloud provider.',
          }),
        }),
        {},
      ),
      {
        // keyProblems' rule for the derived tag prefix, in the form JSON Schema has for it.
        add: {
          $comment: `With the tag prefix defaulted to tags. + prefix, the prefix must leave room for those ${DNS_SUBDOMAIN_MAX_LENGTH - MAX_PREFIX_LENGTH_WITH_DEFAULT_TAG_PREFIX} characters within ${DNS_SUBDOMAIN_MAX_LENGTH}.`,
          if: { properties: { tagPrefix: { type: 'string', maxLength: 0 } } },
          then: { properties: { prefix: { type: 'string', maxLength: MAX_PREFIX_LENGTH_WITH_DEFAULT_TAG_PREFIX } } },
        },
      },
    ),
    kube: z.prefault(
      z.strictObject({
        nodeName: z.optional(z.string()).register(z.globalRegistry, { description: 'The node to label.' }),
        kubeconfig: z.optional(z.string()).register(z.globalRegistry, { description: "Kubeconfig file, or files separated by ':' merged as kubectl does." }),
        context: z.optional(z.string().check(z.minLength(1))).register(z.globalRegistry, { description: 'Kubeconfig context to use instead of its current-context.' }),
        credentialTimeout: duration('30s', { min: '100ms', max: '10m' }, 'How long a kubeconfig exec credential plugin may take before it is stopped.'),
        resyncPeriod: duration('10m', { min: '1s', max: '24h' }, 'Periodic full reconcile of the node, jittered.'),
        watchTimeout: duration('5m', { min: '1s', max: '1h' }, 'Server-side timeout of the node watch, jittered.'),
        events: z._default(z.boolean(), true).register(z.globalRegistry, { description: 'Emit a Kubernetes Event (reason LabelsUpdated) on the node when its labels change.' }),
        identity: z
          ._default(z.enum(KUBE_IDENTITIES), 'serviceAccount')
          .register(z.globalRegistry, { description: 'Who the agent acts as: its service account (narrowed by the admission policy), or its node, system:node:<name>, by constrained impersonation (Kubernetes 1.36+).' }),
      }),
      {},
    ),
    scheduledEvents: z
      .prefault(
        z.strictObject({
          enabled: z
            ._default(z.boolean(), false)
            .register(z.globalRegistry, { description: "Poll Azure Scheduled Events and show this VM's on the node: a condition (through nodes/status), an annotation with the next event, Events and metrics." }),
          period: duration('10s', { min: '1s', max: '5m' }, "Time between scheduled-events polls; the calls share the IMDS rate limiter with the instance polls. 10s is 0.1 request/s of the VM's 5 and still sees a Preempt (30 s notice) in time."),
          firstCallTimeout: duration('150s', { min: '1s', max: '10m' }, 'Timeout of the first call and of every call after a failure: the service may be off, and Azure answers the call that turns it on in up to two minutes.'),
          disruptive: z
            ._default(z.array(z.enum(EVENT_TYPES)), ['Reboot', 'Redeploy', 'Preempt', 'Terminate'])
            .register(z.globalRegistry, { description: 'Event types that set the condition True (and the taint, when on); the others (Freeze, a live migration, by default) are informational.' }),
          taint: z
            ._default(z.boolean(), false)
            .register(z.globalRegistry, { description: 'Taint the node NoSchedule (<prefix>/maintenance) while a disruptive event is pending, and remove the taint once it is gone.' }),
        }),
        {},
      )
      .register(z.globalRegistry, { description: 'Azure Scheduled Events on the node, off by default.' }),
    server: z.prefault(
      z.strictObject({
        port: z._default(z.number().check(z.int(), z.minimum(0), z.maximum(65535)), 9721).register(z.globalRegistry, { description: 'Port of /metrics, /healthz and /readyz; 0 takes any free port.' }),
        address: z._default(z.string().check(z.minLength(1)), '0.0.0.0').register(z.globalRegistry, { description: 'Address the metrics and health server binds to.' }),
      }),
      {},
    ),
    log: z.prefault(
      z.strictObject({
        level: z._default(z.enum(LOG_LEVELS), 'info').register(z.globalRegistry, { description: `Log level: ${LOG_LEVELS.join(', ')}.` }),
        format: z._default(z.enum(['json', 'pretty']), 'json').register(z.globalRegistry, { description: 'Log format: json, or pretty for reading by eye.' }),
      }),
      {},
    ),
    dryRun: z._default(z.boolean(), false).register(z.globalRegistry, { description: 'Log the changes the agent would make and write nothing to the node.' }),
  }),
  z.transform((c, ctx) => {
    // Each prefix is valid on its own here; the tag prefix the label prefix derives may not be.
    for (const problem of keyProblems(c.labels)) refuse(ctx, problem.message, ['labels', problem.field]);
    if (c.kube.identity === 'node') for (const problem of nodeIdentityProblems(c.labels)) refuse(ctx, problem.message, ['labels', problem.field]);
    // NodeRestriction refuses every taint change by a node, and node mode's RBAC grants no nodes/status.
    if (c.kube.identity === 'node' && c.scheduledEvents.enabled) {
      refuse(ctx, 'scheduled events need kube.identity serviceAccount: acting as its node, the agent may not write nodes/status or taints', ['scheduledEvents', 'enabled']);
    }
    return { ...c, labels: { ...c.labels, ...prefixesOf(c.labels) } };
  }),
);

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
