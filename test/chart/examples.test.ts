import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/generated.ts';
import { at, parseManifests } from './chart.ts';

/**
 * docs/examples/: workloads that use the labels. Their Kubernetes validity is checked with the
 * chart's objects (kubernetes-schemas.test.ts); here, that they use the labels the agent writes
 * and that each constraint counts the workload's own pods.
 */

const dir = join(ROOT, 'docs', 'examples');
const examples = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => ({ file: f, objects: parseManifests(readFileSync(join(dir, f), 'utf8')) }));

const OURS = /^(imds-labeler\.io|tags\.imds-labeler\.io)\//;

describe('docs/examples', () => {
  it('has the fault/update domain, tag affinity and zone examples', () => {
    expect(examples.map((e) => e.file).sort()).toEqual(['node-affinity-tag.yaml', 'spread-fault-update-domains.yaml', 'spread-zones.yaml']);
  });

  it.each(examples.map((e) => [e.file, e.objects] as const))('%s uses the agent\'s labels on its own pods', (_file, objects) => {
    for (const o of objects) {
      const podLabels = at(o, 'spec', 'template', 'metadata', 'labels') as Record<string, string>;
      expect(at(o, 'spec', 'selector', 'matchLabels')).toEqual(podLabels);
      const spread = (at(o, 'spec', 'template', 'spec', 'topologySpreadConstraints') ?? []) as { topologyKey: string; labelSelector: { matchLabels: Record<string, string> } }[];
      for (const c of spread) expect(c.labelSelector.matchLabels).toEqual(podLabels);
      const affinity = JSON.stringify(at(o, 'spec', 'template', 'spec', 'affinity') ?? {});
      const keys = [...spread.map((c) => c.topologyKey), ...[...affinity.matchAll(/"key":"([^"]+)"/g)].map((m) => m[1]!)];
      expect(keys.some((k) => OURS.test(k)), 'uses at least one imds-labeler label').toBe(true);
    }
  });

  it('the examples the brief names are there', () => {
    const text = examples.map((e) => JSON.stringify(e.objects)).join('\n');
    expect(text).toContain('"topologyKey":"imds-labeler.io/fault-domain"');
    expect(text).toContain('"topologyKey":"imds-labeler.io/update-domain"');
    expect(text).toContain('"topologyKey":"imds-labeler.io/zone"');
    expect(text).toContain('"key":"tags.imds-labeler.io/env","operator":"In","values":["prod"]');
  });
});
