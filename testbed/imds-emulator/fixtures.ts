import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import defaultFixture from './fixtures/default.json' with { type: 'json' };
import regionalFixture from './fixtures/regional.json' with { type: 'json' };
import spotFixture from './fixtures/spot.json' with { type: 'json' };
import dedicatedHostFixture from './fixtures/dedicated-host.json' with { type: 'json' };
import tagEdgeCasesFixture from './fixtures/tag-edge-cases.json' with { type: 'json' };
import scaleSetFixture from './fixtures/scale-set.json' with { type: 'json' };
import { scheduledEventsSchema, type ScheduledEventsDocument } from './scheduledEvents.ts';
import { WatchedFile } from './watchedFile.ts';

/**
 * Fixtures: the instance document the emulator serves (every primitive a string, as on the
 * wire), plus an optional top-level `scheduledEvents` section that is not part of it.
 */

const BUILT_IN = {
  default: { description: "the IMDS article's sample as a zonal VM: zone 1, fault and update domain 0, compute, network, tags and tagsList", document: defaultFixture },
  regional: { description: 'availability-set VM: zone "", fault domain 1 of several, no scale set', document: regionalFixture },
  spot: { description: 'Spot scale-set instance (priority Spot, evictionPolicy Deallocate) with a pending Preempt event', document: spotFixture },
  'dedicated-host': { description: 'VM on a dedicated host: host.id and hostGroup.id set', document: dedicatedHostFixture },
  'tag-edge-cases': { description: 'tags with ; : = / spaces, unicode, emoji, 512-char names, 256-char values, empty values, case twins, kubernetes.io/role', document: tagEdgeCasesFixture },
  'scale-set': { description: 'AKS-style scale-set instance: vmScaleSetName, placementGroupId, zone 3, fault domain 0', document: scaleSetFixture },
} as const satisfies Record<string, { description: string; document: object }>;

export type FixtureName = keyof typeof BUILT_IN;
export const FIXTURE_NAMES = Object.keys(BUILT_IN) as FixtureName[];
export const isFixtureName = (name: string): name is FixtureName => Object.hasOwn(BUILT_IN, name);
export const fixtureDescription = (name: FixtureName): string => BUILT_IN[name].description;

/** A fresh copy of a built-in fixture, `scheduledEvents` section included when it has one. */
export function builtInFixture(name: FixtureName): Record<string, unknown> {
  return structuredClone(BUILT_IN[name].document) as Record<string, unknown>;
}

export class FixtureError extends Error {
  readonly kind = 'fixture';
  constructor(message: string) {
    super(message);
    this.name = 'FixtureError';
  }
}

export interface Fixture {
  /** What /metadata/instance serves. */
  instance: Record<string, unknown>;
  scheduledEvents: ScheduledEventsDocument | undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Splits a fixture into the instance document and its scheduled events. The document itself is
 * not checked against the agent's schema: a fixture may be broken on purpose.
 */
export function toFixture(raw: unknown, source = 'fixture'): Fixture {
  if (!isRecord(raw)) throw new FixtureError(`${source}: a fixture is a JSON or YAML object, such as {"compute": {...}, "network": {...}}`);
  const { scheduledEvents, ...instance } = structuredClone(raw);
  if (scheduledEvents === undefined) return { instance, scheduledEvents: undefined };
  const parsed = scheduledEventsSchema.safeParse(scheduledEvents);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new FixtureError(`${source}: scheduledEvents.${issue.path.join('.')}: ${issue.message}`);
  }
  return { instance, scheduledEvents: parsed.data };
}

export function parseFixtureText(text: string, source: string): Fixture {
  let raw: unknown;
  try {
    raw = extname(source).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new FixtureError(`${source}: not valid ${extname(source).toLowerCase() === '.json' ? 'JSON' : 'YAML or JSON'}: ${(err as Error).message.split('\n')[0]}`);
  }
  return toFixture(raw, source);
}

/** Where the fixture comes from; a file is re-read when it changes. */
export interface FixtureSource {
  /** "default", "file ./vm.yaml" or "document". */
  readonly label: string;
  poll(): { fixture: Fixture; changed: boolean; error?: Error };
}

/**
 * A fixture from a built-in name, a file path (JSON, or YAML for any other extension) or a
 * document. Built-in names win over files of the same name: write "./default" for such a file.
 */
export function fixtureSource(spec: string | object | undefined): FixtureSource {
  if (spec === undefined) spec = 'default';
  if (typeof spec === 'object') {
    const fixture = toFixture(spec, 'fixture document');
    return { label: 'document', poll: () => ({ fixture, changed: false }) };
  }
  if (isFixtureName(spec)) {
    const fixture = toFixture(builtInFixture(spec), `built-in fixture ${spec}`);
    return { label: spec, poll: () => ({ fixture, changed: false }) };
  }
  if (!existsSync(spec)) {
    throw new FixtureError(`fixture "${spec}" is neither a built-in fixture (${FIXTURE_NAMES.join(', ')}) nor a file`);
  }
  let file: WatchedFile<Fixture>;
  try {
    file = new WatchedFile(spec, parseFixtureText);
  } catch (err) {
    throw err instanceof FixtureError ? err : new FixtureError(`cannot read fixture ${spec}: ${(err as Error).message}`);
  }
  return {
    label: `file ${spec}`,
    poll: () => {
      const { value, changed, error } = file.poll();
      return error ? { fixture: value, changed, error } : { fixture: value, changed };
    },
  };
}
