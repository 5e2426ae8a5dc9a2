import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.ts';
import { applyPatch, reconcile } from '../../src/kube/reconcile.ts';
import { reconcilePolicy } from '../../src/kube/policy.ts';
import type { NodeMeta } from '../../src/kube/types.ts';

const labelsConfig = (over: Record<string, unknown> = {}) => configSchema.parse({ labels: over }).labels;
const policy = reconcilePolicy(labelsConfig());
const OWNED_L = 'imds-labeler.io/owned-labels';
const OWNED_A = 'imds-labeler.io/owned-annotations';

const node = (labels: Record<string, string> = {}, annotations: Record<string, string> = {}): NodeMeta => ({
  name: 'n1',
  uid: 'u1',
  resourceVersion: '7',
  labels,
  annotations,
});

describe('reconcile', () => {
  it('keeps owned labels the document cannot tell about (an old api-version), writes nothing for them, and keeps owning them', () => {
    const n = node({ 'imds-labeler.io/zone': '2', 'imds-labeler.io/environment': 'AzurePublicCloud', 'imds-labeler.io/vm-size': 'a' }, { [OWNED_L]: 'imds-labeler.io/environment,imds-labeler.io/vm-size,imds-labeler.io/zone' });
    const unknownLabels = ['imds-labeler.io/environment', 'imds-labeler.io/zone', 'imds-labeler.io/physical-zone'];
    expect(reconcile({ labels: { 'imds-labeler.io/vm-size': 'a' }, annotations: {}, unknownLabels }, n, policy).patch).toBeNull();
    const r = reconcile({ labels: { 'imds-labeler.io/vm-size': 'b' }, annotations: {}, unknownLabels }, n, policy);
    expect(r.patch).toEqual({ metadata: { resourceVersion: '7', labels: { 'imds-labeler.io/vm-size': 'b' } } });
    expect(r.ownedLabels).toEqual(['imds-labeler.io/environment', 'imds-labeler.io/vm-size', 'imds-labeler.io/zone']);
    // Without the hint the same document removes them: that is what an old version did.
    expect(reconcile({ labels: { 'imds-labeler.io/vm-size': 'a' }, annotations: {} }, n, policy).labels.removed).toEqual(['imds-labeler.io/environment', 'imds-labeler.io/zone']);
  });

  it('an unknown label never takes over a key it did not own', () => {
    const n = node({ 'imds-labeler.io/zone': 'hand-set' });
    const r = reconcile({ labels: {}, annotations: {}, unknownLabels: ['imds-labeler.io/zone'] }, n, policy);
    expect([r.patch, r.ownedLabels]).toEqual([null, []]);
  });

  it('adds desired labels to a fresh node and records ownership', () => {
    const r = reconcile({ labels: { 'imds-labeler.io/zone': '1' }, annotations: {} }, node({ 'kubernetes.io/hostname': 'n1' }), policy);
    expect(r.patch).toEqual({
      metadata: { resourceVersion: '7', labels: { 'imds-labeler.io/zone': '1' }, annotations: { [OWNED_L]: 'imds-labeler.io/zone' } },
    });
    expect(r.labels.added).toEqual(['imds-labeler.io/zone']);
  });

  it('writes nothing when the node already matches', () => {
    const n = node({ 'imds-labeler.io/zone': '1', other: 'x' }, { [OWNED_L]: 'imds-labeler.io/zone' });
    expect(reconcile({ labels: { 'imds-labeler.io/zone': '1' }, annotations: {} }, n, policy).patch).toBeNull();
  });

  it.each([
    ['a deleted tag removes its label', { 'tags.imds-labeler.io/env': 'prod' }, {}, { 'tags.imds-labeler.io/env': null }],
    ['a changed value is replaced', { 'tags.imds-labeler.io/env': 'prod' }, { 'tags.imds-labeler.io/env': 'dev' }, { 'tags.imds-labeler.io/env': 'dev' }],
  ])('%s', (_name, before, want, expectedLabels) => {
    const n = node({ ...before, foreign: 'keep' }, { [OWNED_L]: Object.keys(before).join(',') });
    const r = reconcile({ labels: want, annotations: {} }, n, policy);
    expect(r.patch?.metadata.labels).toEqual(expectedLabels);
    expect(applyPatch(n, r.patch).labels.foreign).toBe('keep');
  });

  it('never removes a key under its prefix that it did not record as owned', () => {
    const n = node({ 'tags.imds-labeler.io/hand-made': 'x' }, {});
    const r = reconcile({ labels: {}, annotations: {} }, n, policy);
    expect(r.patch).toBeNull();
  });

  it('restores an owned label someone changed by hand', () => {
    const n = node({ 'imds-labeler.io/zone': '3' }, { [OWNED_L]: 'imds-labeler.io/zone' });
    const r = reconcile({ labels: { 'imds-labeler.io/zone': '1' }, annotations: {} }, n, policy);
    expect(r.patch?.metadata.labels).toEqual({ 'imds-labeler.io/zone': '1' });
    expect(r.labels.changed).toEqual(['imds-labeler.io/zone']);
  });

  it('refuses keys outside its prefixes even when the mapping asks for them', () => {
    const r = reconcile({ labels: { 'kubernetes.io/role': 'x', 'evil.io/a': 'b' }, annotations: {} }, node(), policy);
    expect(r.patch).toBeNull();
    expect(r.refused).toEqual(['evil.io/a', 'kubernetes.io/role']);
  });

  it('ignores a forged ownership record that names someone else\'s key', () => {
    const n = node({ 'kubernetes.io/os': 'linux' }, { [OWNED_L]: 'kubernetes.io/os' });
    const r = reconcile({ labels: {}, annotations: {} }, n, policy);
    expect(r.patch?.metadata.labels).toBeUndefined();
  });

  it('manages annotations with their own ownership record', () => {
    const n = node({}, { [OWNED_A]: 'imds-labeler.io/tags', 'imds-labeler.io/tags': '[]', 'x/y': 'z' });
    const r = reconcile({ labels: {}, annotations: {} }, n, policy);
    expect(r.patch?.metadata.annotations).toEqual({ 'imds-labeler.io/tags': null, [OWNED_A]: null });
  });

  describe('well-known keys', () => {
    const wk = reconcilePolicy(labelsConfig({ wellKnown: true }));
    const want = { labels: { 'topology.kubernetes.io/zone': 'westus-1' }, annotations: {} };

    it('are refused without the opt-in', () => {
      expect(reconcile(want, node(), policy).refused).toEqual(['topology.kubernetes.io/zone']);
    });
    it('are written when absent, with the opt-in', () => {
      expect(reconcile(want, node(), wk).patch?.metadata.labels).toEqual({ 'topology.kubernetes.io/zone': 'westus-1' });
    });
    it('are never overwritten when another writer set them', () => {
      const r = reconcile(want, node({ 'topology.kubernetes.io/zone': '0' }), wk);
      expect(r.patch).toBeNull();
      expect(r.refused).toEqual(['topology.kubernetes.io/zone']);
    });
    it('are kept up to date once the agent wrote them', () => {
      const n = node({ 'topology.kubernetes.io/zone': 'westus-2' }, { [OWNED_L]: 'topology.kubernetes.io/zone' });
      expect(reconcile(want, n, wk).patch?.metadata.labels).toEqual({ 'topology.kubernetes.io/zone': 'westus-1' });
    });
  });

  it('converges in one patch and is then a fixed point (property)', () => {
    const key = fc.constantFrom('imds-labeler.io/a', 'imds-labeler.io/b', 'tags.imds-labeler.io/c', 'foreign.io/d', 'kubernetes.io/e');
    const map = fc.dictionary(key, fc.constantFrom('1', '2', ''));
    fc.assert(
      fc.property(map, map, map, fc.subarray(['imds-labeler.io/a', 'imds-labeler.io/b', 'tags.imds-labeler.io/c', 'foreign.io/d']), (want, have, haveAnn, owned) => {
        const n = node(have, { ...haveAnn, ...(owned.length ? { [OWNED_L]: owned.join(',') } : {}) });
        const first = reconcile({ labels: want, annotations: {} }, n, policy);
        const after = applyPatch(n, first.patch);
        expect(reconcile({ labels: want, annotations: {} }, after, policy).patch).toBeNull();
        // Keys it may not own are exactly as they were.
        for (const k of new Set([...Object.keys(have), ...Object.keys(after.labels)])) {
          if (!policy.mayOwn(k)) expect(after.labels[k]).toBe(have[k]);
        }
      }),
    );
  });
});
