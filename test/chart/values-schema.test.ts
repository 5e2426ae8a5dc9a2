import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CHART_DIR, HELM, requireTool, runHelm, templateArgs } from '../../scripts/helm.ts';
import { valueDocs } from '../../scripts/gen/values-doc.ts';

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

const GOOD: [string, Record<string, unknown>][] = [
  ['the defaults', {}],
  ['durations in every unit', { config: { poll: { period: '1m30s', initialDelay: '500ms' }, imds: { retryBudget: '0' }, kube: { resyncPeriod: '1h' } } }],
  ['a tag prefix of its own', { config: { labels: { prefix: 'azure.example.com', tagPrefix: 'vmtags.example.com' } } }],
  ['a lower burst with a higher rate', { config: { imds: { rateLimit: { requestsPerSecond: 3, burst: 1 } } } }],
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
