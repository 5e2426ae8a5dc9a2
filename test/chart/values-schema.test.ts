import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CHART_DIR, HELM, requireTool, runHelm, templateArgs } from '../../scripts/helm.ts';
import { valueDocs } from '../../scripts/gen/values-doc.ts';
import { configSchema } from '../../src/config/schema.ts';
import { parseManifests } from './chart.ts';

/**
 * values.schema.json is the chart's front door: helm (v4) checks every install, upgrade and
 * template against it. The same tables run through helm and through ajv, so the schema is valid
 * JSON Schema for both, not only for one implementation.
 */
requireTool(HELM);

const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as Record<string, unknown>;
const defaults = parseYaml(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<string, unknown>;
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(schema);

/** Deep merge of values over the defaults, as helm does (lists are replaced). */
function merge(base: unknown, over: unknown): unknown {
  if (over === null || typeof over !== 'object' || Array.isArray(over)) return over;
  if (base === null || typeof base !== 'object' || Array.isArray(base)) return over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) out[k] = merge(out[k], v);
  return out;
}

const ajvErrors = (values: unknown): ErrorObject[] => (validate(merge(defaults, values)) ? [] : (validate.errors ?? []));
const helmTemplate = (values: unknown) => runHelm(templateArgs(), values);

/** Chart values the schema takes; the config's cases are in CONFIGS below. */
const GOOD: [string, Record<string, unknown>][] = [
  ['the defaults', {}],
  ['maxUnavailable as a number and as a percentage', { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: '25%' } } }],
  ['Warn and Audit before enforcing', { admissionPolicy: { validationActions: ['Warn', 'Audit'] } }],
  ['global values from a parent chart', { global: { imageRegistry: 'example.com' } }],
  ['a CPU quantity as a number', { resources: { requests: { cpu: 0.5, memory: '64Mi' }, limits: { memory: '1Gi' } } }],
  ['an IPv6 API server CIDR', { networkPolicy: { enabled: true, apiServerCIDRs: ['fd00::/8', '10.0.0.1/32'] } }],
  ['a digest and a tag', { image: { tag: 'v1.2.3', digest: `sha256:${'0'.repeat(64)}` } }],
];

interface Bad {
  name: string;
  values: Record<string, unknown>;
  /** The JSON pointer of the offending value, as both helm and ajv report it. */
  path: string;
  /** Words a person needs to see in helm's message. */
  says: string;
}

const BAD: Bad[] = [
  { name: 'a misspelt top-level key', values: { hostnetwork: true }, path: '', says: "additional properties 'hostnetwork' not allowed" },
  { name: 'a misspelt config key', values: { config: { poll: { periode: '60s' } } }, path: '/config/poll', says: "'periode' not allowed" },
  { name: 'a duration in words', values: { config: { poll: { period: '1 minute' } } }, path: '/config/poll/period', says: 'a duration such as 500ms, 30s, 5m, 1h or 1m30s' },
  { name: 'a duration as a number', values: { config: { kube: { resyncPeriod: 600 } } }, path: '/config/kube/resyncPeriod', says: 'want string' },
  { name: 'the kubernetes.io prefix', values: { config: { labels: { prefix: 'kubernetes.io' } } }, path: '/config/labels/prefix', says: 'belong to Kubernetes and AKS' },
  { name: 'a prefix under k8s.io', values: { config: { labels: { prefix: 'node.k8s.io' } } }, path: '/config/labels/prefix', says: 'belong to Kubernetes and AKS' },
  { name: 'a tag prefix under kubernetes.azure.com', values: { config: { labels: { tagPrefix: 'tags.kubernetes.azure.com' } } }, path: '/config/labels/tagPrefix', says: 'belong to Kubernetes and AKS' },
  { name: 'an uppercase prefix', values: { config: { labels: { prefix: 'Imds.example.com' } } }, path: '/config/labels/prefix', says: 'does not match pattern' },
  { name: 'a prefix with a slash', values: { config: { labels: { prefix: 'imds-labeler.io/' } } }, path: '/config/labels/prefix', says: 'does not match pattern' },
  { name: 'an unknown extra', values: { config: { labels: { extras: ['gpu'] } } }, path: '/config/labels/extras/0', says: "value must be one of 'spot'" },
  { name: 'an unknown log level', values: { config: { log: { level: 'verbose' } } }, path: '/config/log/level', says: "value must be one of 'trace'" },
  { name: 'IMDS over https', values: { config: { imds: { endpoint: 'https://169.254.169.254' } } }, path: '/config/imds/endpoint', says: 'does not match pattern' },
  { name: 'an api-version that is no date', values: { config: { imds: { apiVersion: 'latest' } } }, path: '/config/imds/apiVersion', says: 'does not match pattern' },
  { name: 'a rate above IMDS\'s budget', values: { config: { imds: { rateLimit: { requestsPerSecond: 3, burst: 2 } } } }, path: '/config/imds/rateLimit/requestsPerSecond', says: 'maximum' },
  { name: 'a jitter above half the period', values: { config: { poll: { jitter: 0.9 } } }, path: '/config/poll/jitter', says: 'maximum' },
  { name: 'a port out of range', values: { config: { server: { port: 70000 } } }, path: '/config/server/port', says: 'maximum' },
  { name: 'port 0 (the probes need a fixed port)', values: { config: { server: { port: 0 } } }, path: '/config/server/port', says: 'minimum' },
  { name: 'a digest without sha256', values: { image: { digest: 'abc123' } }, path: '/image/digest', says: 'does not match pattern' },
  { name: 'a pull policy in the wrong case', values: { image: { pullPolicy: 'always' } }, path: '/image/pullPolicy', says: "value must be one of 'Always'" },
  { name: 'maxUnavailable in words', values: { updateStrategy: { rollingUpdate: { maxUnavailable: '10 percent' } } }, path: '/updateStrategy/rollingUpdate/maxUnavailable', says: 'does not match pattern' },
  { name: 'a memory limit in MB', values: { resources: { limits: { memory: '128MB' } } }, path: '/resources/limits/memory', says: 'does not match pattern' },
  { name: 'Deny and Warn together', values: { admissionPolicy: { validationActions: ['Deny', 'Warn'] } }, path: '/admissionPolicy/validationActions', says: "'not' failed" },
  { name: 'an IMDS address without a mask', values: { networkPolicy: { imdsCIDR: '169.254.169.254' } }, path: '/networkPolicy/imdsCIDR', says: 'does not match pattern' },
  { name: 'a scrape interval in words', values: { metrics: { serviceMonitor: { interval: '30 seconds' } } }, path: '/metrics/serviceMonitor/interval', says: 'does not match pattern' },
  { name: 'a pod label that is a number', values: { podLabels: { tier: 1 } }, path: '/podLabels/tier', says: 'want string' },
  { name: 'hostNetwork as a word', values: { hostNetwork: 'yes' }, path: '/hostNetwork', says: 'want boolean' },
  { name: 'a negative backoff limit', values: { cleanup: { backoffLimit: -1 } }, path: '/cleanup/backoffLimit', says: 'minimum' },
  { name: 'no grace period', values: { terminationGracePeriodSeconds: 0 }, path: '/terminationGracePeriodSeconds', says: 'minimum' },
  { name: 'an unknown probe field', values: { livenessProbe: { httpGet: { path: '/' } } }, path: '/livenessProbe', says: "'httpGet' not allowed" },
];

describe('values.schema.json', () => {
  it('is valid JSON Schema (ajv strict mode compiles it)', () => {
    expect(typeof validate).toBe('function');
  });

  it.each(GOOD)('accepts %s (ajv and helm)', (_name, values) => {
    expect(ajvErrors(values)).toEqual([]);
    const result = helmTemplate(values);
    expect(result.stderr).toBe('');
    expect(result.ok).toBe(true);
  });

  it.each(BAD.map((b) => [b.name, b] as const))('refuses %s (ajv and helm), naming the key', (_name, bad) => {
    const errors = ajvErrors(bad.values);
    expect(errors.length, 'ajv accepted it').toBeGreaterThan(0);
    expect(errors.map((e) => e.instancePath)).toContain(bad.path);

    const result = helmTemplate(bad.values);
    expect(result.ok, 'helm accepted it').toBe(false);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    expect(result.stderr).toContain(`at '${bad.path}'`);
    expect(result.stderr).toContain(bad.says);
  });

  it('helm lint --strict refuses a bad value too', () => {
    const result = runHelm(['lint', '--strict', CHART_DIR], { config: { labels: { prefix: 'kubernetes.io' } } });
    expect(result.ok).toBe(false);
    expect(result.stdout + result.stderr).toContain('/config/labels/prefix');
  });
});

/**
 * The chart's verdict on a config (values.schema.json through ajv and through helm) against the
 * agent's (its zod schema, on the config.json the chart renders, as the agent reads it at
 * start-up). They agree, but where the chart is narrower on purpose or JSON Schema cannot say
 * the rule (values.schema.json's $comment says which); then the agent still refuses when it starts.
 */
type Verdict = 'valid' | 'invalid' | { chartOnly: string } | { agentOnly: string };

const long = (n: number) => `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(n - 192)}`;

const CONFIGS: [string, Record<string, unknown>, Verdict][] = [
  ['the defaults', {}, 'valid'],
  ['durations in every unit', { poll: { period: '1m30s', initialDelay: '500ms' }, imds: { retryBudget: '0' }, kube: { resyncPeriod: '1h' } }, 'valid'],
  ['a fractional duration', { imds: { requestTimeout: '1.5s' } }, 'valid'],
  ['durations at their bounds', { imds: { connectTimeout: '1ms', requestTimeout: '5m' }, poll: { period: '24h' }, kube: { watchTimeout: '1s', resyncPeriod: '24h' } }, 'valid'],
  ['the shortest poll period', { poll: { period: '100ms' } }, 'valid'],
  ['a duration in words', { poll: { period: '1 minute' } }, 'invalid'],
  ['a duration with a space before it', { poll: { period: ' 60s' } }, 'invalid'],
  ['a duration without a unit', { poll: { period: '60' } }, 'invalid'],
  ['a negative duration', { poll: { initialDelay: '-1s' } }, 'invalid'],
  ['a duration in days', { kube: { resyncPeriod: '1d' } }, 'invalid'],
  ['a duration with a bare point', { imds: { requestTimeout: '1.s' } }, 'invalid'],
  ['an empty duration', { imds: { retryBudget: '' } }, 'invalid'],
  ['a duration as a number (milliseconds)', { poll: { period: 600 } }, { chartOnly: 'a number in a values file is easily meant as seconds' }],
  ['a watch timeout of 700h', { kube: { watchTimeout: '700h' } }, { agentOnly: 'JSON Schema cannot compare durations' }],
  ['a connect timeout of 0s', { imds: { connectTimeout: '0s' } }, { agentOnly: 'JSON Schema cannot compare durations' }],
  ['a poll period under 100ms', { poll: { period: '50ms' } }, { agentOnly: 'JSON Schema cannot compare durations' }],
  ['a retry budget past an hour', { imds: { retryBudget: '61m' } }, { agentOnly: 'JSON Schema cannot compare durations' }],
  ['a prefix and a tag prefix of its own', { labels: { prefix: 'azure.example.com', tagPrefix: 'vmtags.example.com' } }, 'valid'],
  ['an empty tag prefix with the longest prefix it allows', { labels: { prefix: long(248), tagPrefix: '' } }, 'valid'],
  ['a prefix one longer, the tag prefix defaulted', { labels: { prefix: long(249), tagPrefix: '' } }, 'invalid'],
  ['a prefix of 253 characters with a tag prefix', { labels: { prefix: long(253), tagPrefix: 'vmtags.example.com' } }, 'valid'],
  ['a prefix of 254 characters', { labels: { prefix: long(254), tagPrefix: 'vmtags.example.com' } }, 'invalid'],
  ['the kubernetes.io prefix', { labels: { prefix: 'kubernetes.io' } }, 'invalid'],
  ['a prefix under k8s.io', { labels: { prefix: 'node.k8s.io' } }, 'invalid'],
  ['a prefix that only ends like k8s.io', { labels: { prefix: 'xk8s.io' } }, 'valid'],
  ['a tag prefix under kubernetes.azure.com', { labels: { tagPrefix: 'tags.kubernetes.azure.com' } }, 'invalid'],
  ['an uppercase prefix', { labels: { prefix: 'Imds.example.com' } }, 'invalid'],
  ['a prefix with a slash', { labels: { prefix: 'imds-labeler.io/' } }, 'invalid'],
  ['an IMDS endpoint with a port and a path', { imds: { endpoint: 'http://127.0.0.1:8080/imds' } }, 'valid'],
  ['an IMDS endpoint at an IPv6 address', { imds: { endpoint: 'http://[fd00::1]:80' } }, 'valid'],
  ['IMDS over https', { imds: { endpoint: 'https://169.254.169.254' } }, 'invalid'],
  ['an IMDS endpoint with a query', { imds: { endpoint: 'http://169.254.169.254/?x=1' } }, 'invalid'],
  ['an IMDS endpoint with a user', { imds: { endpoint: 'http://me@169.254.169.254' } }, 'invalid'],
  ['an IMDS endpoint without a host', { imds: { endpoint: 'http://' } }, 'invalid'],
  ['an IMDS port above 65535', { imds: { endpoint: 'http://169.254.169.254:99999' } }, { agentOnly: 'the URL parser checks the port' }],
  ['an IMDS address that is no IPv4 address', { imds: { endpoint: 'http://999.1.1.1' } }, { agentOnly: 'the URL parser checks IP addresses' }],
  ['an api-version that is no date', { imds: { apiVersion: 'latest' } }, 'invalid'],
  ['a misspelt config key', { pol: { period: '60s' } }, 'invalid'],
  ['a misspelt nested key', { poll: { periode: '60s' } }, 'invalid'],
  ['a lower burst with a higher rate', { imds: { rateLimit: { requestsPerSecond: 3, burst: 1 } } }, 'valid'],
  ['a slow rate', { imds: { rateLimit: { requestsPerSecond: 0.5 } } }, 'valid'],
  ['a rate above IMDS\'s budget', { imds: { rateLimit: { requestsPerSecond: 3, burst: 2 } } }, 'invalid'],
  ['a fractional rate above the budget', { imds: { rateLimit: { requestsPerSecond: 2.5 } } }, 'invalid'],
  ['a burst of 3', { imds: { rateLimit: { requestsPerSecond: 1, burst: 3 } } }, 'invalid'],
  ['a rate of 0', { imds: { rateLimit: { requestsPerSecond: 0, burst: 1 } } }, 'invalid'],
  ['jitter at its bounds', { poll: { jitter: 0.5 } }, 'valid'],
  ['a jitter above half the period', { poll: { jitter: 0.9 } }, 'invalid'],
  ['the smallest response limit', { imds: { maxResponseBytes: 1024 } }, 'valid'],
  ['a response limit under 1 KiB', { imds: { maxResponseBytes: 1023 } }, 'invalid'],
  ['every extra', { labels: { extras: ['spot', 'security', 'physicalZone', 'subFaultDomain', 'osType', 'hostGroup'] } }, 'valid'],
  ['an unknown extra', { labels: { extras: ['gpu'] } }, 'invalid'],
  ['an unknown log level', { log: { level: 'verbose' } }, 'invalid'],
  ['events as a word', { kube: { events: 'yes' } }, 'invalid'],
  ['an empty server address', { server: { address: '' } }, 'invalid'],
  ['a port out of range', { server: { port: 70000 } }, 'invalid'],
  ['port 0 (any free port)', { server: { port: 0 } }, { chartOnly: 'the probes need a fixed port' }],
  ['a node name', { kube: { nodeName: 'n1' } }, { chartOnly: 'the DaemonSet sets NODE_NAME' }],
  ['a kubeconfig', { kube: { kubeconfig: '/etc/kubeconfig' } }, { chartOnly: 'the agent uses its service account' }],
  ['a credential timeout', { kube: { credentialTimeout: '10s' } }, { chartOnly: 'no kubeconfig, no exec plugin' }],
];

/** The config.json the chart renders for these values, or undefined when helm refuses them. */
function renderedConfig(values: unknown): { config?: unknown; stderr: string } {
  const result = runHelm([...templateArgs(), '--show-only', 'templates/configmap.yaml'], values);
  if (!result.ok) return { stderr: result.stderr };
  const [map] = parseManifests(result.stdout) as unknown as { data: Record<string, string> }[];
  return { config: JSON.parse(map!.data['config.json']!), stderr: result.stderr };
}

const zodPaths = (config: unknown): string[] | undefined => {
  const result = configSchema.safeParse(config);
  return result.success ? undefined : result.error.issues.map((i) => ['/config', ...i.path].join('/'));
};

describe('the chart and the agent agree on the config', () => {
  it('has cases of every verdict', () => {
    const kinds = new Set(CONFIGS.map(([, , v]) => (typeof v === 'string' ? v : Object.keys(v)[0])));
    expect([...kinds].sort()).toEqual(['agentOnly', 'chartOnly', 'invalid', 'valid']);
  });

  it.each(CONFIGS)('%s', (_name, config, verdict) => {
    const values = { config };
    const ajv = ajvErrors(values);
    const helm = renderedConfig(values);
    const chartAccepts = verdict === 'valid' || (typeof verdict === 'object' && 'agentOnly' in verdict);
    expect(ajv.length === 0, `ajv: ${JSON.stringify(ajv.map((e) => `${e.instancePath} ${e.message}`))}`).toBe(chartAccepts);
    expect(helm.config !== undefined, `helm: ${helm.stderr}`).toBe(chartAccepts);

    // What the agent reads: the rendered config.json when the chart takes the values, else the values themselves.
    const agentInput = helm.config ?? (merge(defaults, values) as { config: unknown }).config;
    const refused = zodPaths(agentInput);
    const agentAccepts = verdict === 'valid' || (typeof verdict === 'object' && 'chartOnly' in verdict);
    expect(refused === undefined, `zod: ${JSON.stringify(refused)}`).toBe(agentAccepts);
    if (verdict === 'invalid') {
      // Both blame the same field (the schema may name a field inside the one zod names).
      const blamed = ajv.map((e) => e.instancePath);
      expect(refused!.some((z) => blamed.some((a) => a === z || a.startsWith(`${z}/`))), `zod ${JSON.stringify(refused)}, ajv ${JSON.stringify(blamed)}`).toBe(true);
      expect(helm.stderr).toContain(`at '${refused![0]}`);
    }
  });
});

describe('values.yaml and its schema agree', () => {
  const documented = valueDocs();

  it('every value has a "# --" description, a type and a default (docs/values.md comes from them)', () => {
    expect(documented.length).toBeGreaterThan(50);
    for (const v of documented) {
      expect(v.description.length, v.key).toBeGreaterThan(5);
      expect(v.type, v.key).not.toBe('any');
    }
  });

  it('the schema describes no value that values.yaml leaves out', () => {
    const keys = documented.map((v) => v.key);
    const definitions = schema.definitions as Record<string, Record<string, unknown>>;
    const deref = (node: Record<string, unknown>) => (typeof node.$ref === 'string' ? definitions[node.$ref.replace('#/definitions/', '')]! : node);
    const walk = (node: Record<string, unknown>, prefix: string): string[] => {
      const props = (node.properties ?? {}) as Record<string, Record<string, unknown>>;
      return Object.entries(props).flatMap(([k, ref]) => {
        const child = deref(ref);
        const path = `${prefix}${k}`;
        if (keys.includes(path)) return [];
        if (child.properties) return walk(child, `${path}.`);
        return [path];
      });
    };
    expect(walk(schema, '').filter((k) => k !== 'global')).toEqual([]);
  });
});
