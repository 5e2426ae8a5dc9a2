import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/generated.ts';
import { VAP_API } from '../../scripts/helm.ts';
import { at, isHook, parseManifests, render, type K8sObject } from './chart.ts';

/**
 * deploy/ holds the chart rendered with its default values, for kubectl apply -f deploy/.
 * test/unit/generated-drift.test.ts checks that it is what scripts/gen/deploy.ts makes now;
 * this checks what it must contain.
 */

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const main = parseManifests(read('deploy/imds-labeler.yaml'));
const cleanup = parseManifests(read('deploy/cleanup/imds-labeler-cleanup.yaml'));
const id = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;

describe('deploy/imds-labeler.yaml', () => {
  it('starts with the namespace, so kubectl apply -f deploy/ works on an empty cluster', () => {
    expect(id(main[0]!)).toBe('Namespace/imds-labeler');
    expect(main[0]!.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('privileged');
    for (const o of main.slice(1).filter((x) => !x.kind.startsWith('Cluster') && !x.kind.startsWith('ValidatingAdmission'))) {
      expect(o.metadata.namespace, id(o)).toBe('imds-labeler');
    }
  });

  it('holds the chart\'s default objects, the admission policy included, and no Helm hook', () => {
    const chart = render({}, { apiVersions: [VAP_API] }).filter((o) => !isHook(o));
    expect(main.slice(1).map(id)).toEqual(chart.map(id));
    expect(main.map(id)).toContain('ValidatingAdmissionPolicy/imds-labeler');
    expect(main.filter((o) => o.kind === 'Job')).toEqual([]);
  });

  it('carries no Helm release bookkeeping', () => {
    for (const text of [read('deploy/imds-labeler.yaml'), read('deploy/cleanup/imds-labeler-cleanup.yaml')]) {
      expect(text).not.toMatch(/helm\.sh\/|managed-by: Helm/);
    }
  });

  it('is deterministic: no timestamps or random names', () => {
    const text = read('deploy/imds-labeler.yaml');
    expect(text).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:/);
    expect(at(main.find((o) => o.kind === 'DaemonSet'), 'spec', 'template', 'metadata', 'annotations', 'checksum/config')).toMatch(/^[a-f0-9]{64}$/);
  });
});

describe('deploy/cleanup/imds-labeler-cleanup.yaml', () => {
  it('is the cleanup Job with its own ServiceAccount and RBAC, in the agent\'s namespace', () => {
    expect(cleanup.map(id).sort()).toEqual(['ClusterRole/imds-labeler-cleanup', 'ClusterRoleBinding/imds-labeler-cleanup', 'ConfigMap/imds-labeler-cleanup', 'Job/imds-labeler-cleanup', 'ServiceAccount/imds-labeler-cleanup']);
    expect(at(cleanup.find((o) => o.kind === 'Job'), 'spec', 'template', 'spec', 'containers', 0, 'args')).toEqual(['cleanup', '--all-nodes', '--config', '/etc/imds-labeler/config.json']);
    // The same config as the agent's.
    expect(at(cleanup.find((o) => o.kind === 'ConfigMap'), 'data')).toEqual(at(main.find((o) => o.kind === 'ConfigMap'), 'data'));
  });

  it('lives in a subfolder, so kubectl apply -f deploy/ (not recursive) does not run it', () => {
    expect(main.filter((o) => o.kind === 'Job')).toEqual([]);
  });
});
