import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/generated.ts';
import { configJsonSchema } from '../../scripts/gen/values-schema.ts';
import { parseDuration } from '../../src/config/duration.ts';
import { configSchema, JSON_SCHEMA_DEFINITIONS, jsonSchemaForms } from '../../src/config/schema.ts';
import { RESERVED_DOMAINS } from '../../src/keys/keys.ts';

/**
 * The JSON Schema of the config, generated from the zod schema, accepts what the zod schema
 * accepts, rule by rule, for random input: the chart's values.schema.json (checked in, and
 * checked against its generator by the drift test) for what the chart takes, and the agent's
 * config-file form for durations written as milliseconds, which the chart does not take.
 * Durations out of their bounds are the one thing JSON Schema cannot say (test/chart/values-schema.test.ts
 * shows the agent refusing them when it starts).
 */

const RUNS = { numRuns: 300 };
const values = JSON.parse(readFileSync(join(ROOT, 'charts/imds-labeler/values.schema.json'), 'utf8')) as {
  definitions: Record<string, unknown>;
  properties: { config: Record<string, unknown> };
};
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const chartConfig = ajv.compile({ definitions: values.definitions, ...values.properties.config });
const fileConfig = ajv.compile({ definitions: JSON_SCHEMA_DEFINITIONS, ...configJsonSchema() });
const durationPattern = ajv.compile({ definitions: values.definitions, $ref: '#/definitions/duration' });

const agentAccepts = (config: unknown) => configSchema.safeParse(config).success;

describe('durations', () => {
  const part = fc.tuple(fc.nat(999), fc.option(fc.nat(99), { nil: undefined }), fc.constantFrom('ms', 's', 'm', 'h', 'd', 'us', '', 'M', 'S'));
  const grammarLike = fc
    .array(part, { minLength: 0, maxLength: 4 })
    .map((parts) => parts.map(([n, fraction, unit]) => `${n}${fraction === undefined ? '' : `.${fraction}`}${unit}`).join(''));
  const noisy = fc.stringMatching(/^[-+ 0-9.smhd\t]{0,8}$/);
  const durationText = fc.oneof(grammarLike, noisy, grammarLike.map((s) => ` ${s}`), grammarLike.map((s) => `${s}\n`), fc.constantFrom('0', '00', '0s', '.5s', '1.s', ''));

  it('the values schema takes a string exactly when the agent can read it as a duration (property)', () => {
    fc.assert(
      fc.property(durationText, (text) => {
        expect(durationPattern(text), JSON.stringify(text)).toBe(parseDuration(text) !== undefined);
      }),
      { numRuns: 2000 },
    );
  });

  const fields = [
    ['imds', 'connectTimeout'],
    ['imds', 'retryBudget'],
    ['poll', 'period'],
    ['poll', 'initialDelay'],
    ['kube', 'credentialTimeout'],
    ['kube', 'watchTimeout'],
  ] as const;

  it('as milliseconds, the config-file form takes a number exactly when the agent does, bounds included (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.oneof(fc.integer({ min: -5, max: 100_000_000 }), fc.double({ min: 0, max: 100_000, noNaN: true })), ([section, key], ms) => {
        const config = { [section]: { [key]: ms } };
        expect(fileConfig(config), `${section}.${key} = ${ms}`).toBe(agentAccepts(config));
      }),
      RUNS,
    );
  });

  it('the chart takes no number for a duration, and the agent does (a values file would mean seconds)', () => {
    expect(chartConfig({ poll: { period: 600 } })).toBe(false);
    expect(agentAccepts({ poll: { period: 600 } })).toBe(true);
  });
});

describe('prefixes', () => {
  const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?$/);
  const subdomain = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
  const longSubdomain = fc.integer({ min: 240, max: 256 }).map((n) => `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(n - 192)}`);
  const prefix = fc.oneof(
    subdomain,
    longSubdomain,
    fc.tuple(subdomain, fc.constantFrom(...RESERVED_DOMAINS)).map(([s, d]) => `${s}.${d}`),
    fc.tuple(subdomain, fc.constantFrom(...RESERVED_DOMAINS)).map(([s, d]) => `${s}${d}`),
    fc.constantFrom(...RESERVED_DOMAINS, '', 'Example.com', 'a/b', 'a..b', '-a.io', 'a.io.', 'a_b.io'),
  );

  it('the values schema takes a prefix and a tag prefix exactly when the agent does (property)', () => {
    fc.assert(
      fc.property(prefix, fc.option(prefix, { nil: undefined }), (p, tagPrefix) => {
        const config = { labels: { prefix: p, ...(tagPrefix === undefined ? {} : { tagPrefix }) } };
        expect(chartConfig(config), JSON.stringify(config)).toBe(agentAccepts(config));
      }),
      RUNS,
    );
  });
});

describe('the rate limit', () => {
  it('the values schema takes a rate and a burst exactly when the agent does, the sum included (property)', () => {
    const rate = fc.oneof(fc.double({ min: -1, max: 5, noNaN: true }), fc.integer({ min: -1, max: 5 }), fc.constantFrom(0.5, 1.5, 2, 2.5, 3, 3.5, 4));
    const burst = fc.option(fc.integer({ min: -1, max: 4 }), { nil: undefined });
    fc.assert(
      fc.property(fc.option(rate, { nil: undefined }), burst, (requestsPerSecond, b) => {
        const config = { imds: { rateLimit: { ...(requestsPerSecond === undefined ? {} : { requestsPerSecond }), ...(b === undefined ? {} : { burst: b }) } } };
        expect(chartConfig(config), JSON.stringify(config)).toBe(agentAccepts(config));
      }),
      RUNS,
    );
  });
});

describe('the forms', () => {
  it('every form of src/config/schema.ts reaches the generated schema (the generator throws otherwise)', () => {
    expect(jsonSchemaForms.size).toBeGreaterThan(10);
    expect(() => configJsonSchema()).not.toThrow();
  });

  it('every field has a description from the zod schema', () => {
    const missing: string[] = [];
    const walk = (node: Record<string, unknown>, path: string) => {
      for (const [key, child] of Object.entries((node.properties ?? {}) as Record<string, Record<string, unknown>>)) {
        if (child.properties) walk(child, `${path}${key}.`);
        else if (typeof child.description !== 'string' || child.description.length < 10) missing.push(`${path}${key}`);
      }
    };
    walk(configJsonSchema(), '');
    expect(missing).toEqual([]);
  });
});
