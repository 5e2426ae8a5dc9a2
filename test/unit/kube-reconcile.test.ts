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
      expect(r.conflicts).toEqual(['topology.kubernetes.io/zone']);
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

  describe('the ownership record is the authority: a key the agent wrote is never forgotten', () => {
    const wellKnownOn = reconcilePolicy(labelsConfig({ wellKnown: true }));
    const wellKnownOff = policy;
    const TYPE = 'node.kubernetes.io/instance-type';
    const SIZE = 'imds-labeler.io/vm-size';
    const sized = (size: string, wellKnown: boolean) => ({ labels: { [SIZE]: size, ...(wellKnown ? { [TYPE]: size } : {}) }, annotations: {} });
    /** Runs reconcile after reconcile, applying each patch, as the agent does over config changes. */
    const run = (steps: [ReturnType<typeof reconcilePolicy>, ReturnType<typeof sized>][], start = node()) =>
      steps.reduce((n, [p, want]) => applyPatch(n, reconcile(want, n, p).patch), start);
    const owned = (n: NodeMeta) => (n.annotations[OWNED_L] ?? '').split(',').filter(Boolean);

    it.each([
      ['wellKnown on, then off: the well-known key it wrote is removed and dropped from the record', [[wellKnownOn, sized('A', true)], [wellKnownOff, sized('A', false)]], undefined, [SIZE]],
      ['on, off, resize, on: instance-type follows the resize', [[wellKnownOn, sized('A', true)], [wellKnownOff, sized('B', false)], [wellKnownOn, sized('B', true)]], 'B', [SIZE, TYPE]],
      ['on, resize while on: instance-type follows', [[wellKnownOn, sized('A', true)], [wellKnownOn, sized('B', true)]], 'B', [SIZE, TYPE]],
    ] as const)('%s', (_name, steps, type, record) => {
      const after = run(steps as never);
      expect(after.labels[TYPE]).toBe(type);
      expect(owned(after)).toEqual(record);
    });

    it('cleanup (nothing desired) removes a recorded well-known key under a config without the opt-in', () => {
      const n = run([[wellKnownOn, sized('A', true)]]);
      const after = applyPatch(n, reconcile({ labels: {}, annotations: {} }, n, wellKnownOff).patch);
      expect(Object.keys(after.labels)).toEqual([]);
      expect(after.annotations).toEqual({});
    });

    it('a recorded key that someone already deleted is dropped from the record', () => {
      const n = node({ [SIZE]: 'A' }, { [OWNED_L]: `${SIZE},tags.imds-labeler.io/gone` });
      const r = reconcile({ labels: { [SIZE]: 'A' }, annotations: {} }, n, policy);
      expect(r.patch?.metadata).toEqual({ resourceVersion: '7', annotations: { [OWNED_L]: SIZE } });
    });

    it('a recorded key it may not remove (a forged record) stays recorded and untouched', () => {
      const n = node({ 'kubernetes.io/os': 'linux', [SIZE]: 'A' }, { [OWNED_L]: `kubernetes.io/os,${SIZE}` });
      const r = reconcile({ labels: {}, annotations: {} }, n, policy);
      expect(r.patch?.metadata.labels).toEqual({ [SIZE]: null });
      expect(r.ownedLabels).toEqual(['kubernetes.io/os']);
    });
  });

  describe('keys under its prefixes that someone else set are not its own', () => {
    const TAG = 'tags.imds-labeler.io/team';
    it.each([
      ['a hand-set label with another value is not overwritten: a conflict', { [TAG]: 'hand' }, { [TAG]: 'imds' }, [TAG]],
      ['a hand-set label with the same value is left as it is, and not recorded', { [TAG]: 'imds' }, { [TAG]: 'imds' }, []],
      ['a hand-set label whose tag is gone is not removed', { [TAG]: 'hand' }, {}, []],
    ])('%s', (_name, have, want, conflicts) => {
      const n = node(have);
      const r = reconcile({ labels: want, annotations: {} }, n, policy);
      expect(r.patch).toBeNull();
      expect(r.conflicts).toEqual(conflicts);
      expect(applyPatch(n, r.patch).labels).toEqual(have);
    });
  });

  describe('a field IMDS now sends garbage for keeps its last good value', () => {
    const SIZE = 'imds-labeler.io/vm-size';
    const problem = { key: SIZE, field: 'compute.vmSize', reason: 'invalid-value' as const, message: 'x' };
    it.each([
      ['a recorded label is kept, and stays recorded', node({ [SIZE]: 'Standard_A' }, { [OWNED_L]: SIZE }), null, [SIZE], [SIZE]],
      ['a label it never wrote is not created', node(), null, [], []],
    ])('%s', (_name, n, patch, held, owned) => {
      const r = reconcile({ labels: {}, annotations: {}, problems: [problem] }, n, policy);
      expect(r.patch).toEqual(patch);
      expect(r.held).toEqual(held);
      expect(r.ownedLabels).toEqual(owned);
    });
    it('and is replaced once IMDS sends a valid value again', () => {
      const n = node({ [SIZE]: 'Standard_A' }, { [OWNED_L]: SIZE });
      expect(reconcile({ labels: { [SIZE]: 'Standard_B' }, annotations: {}, problems: [] }, n, policy).patch?.metadata.labels).toEqual({ [SIZE]: 'Standard_B' });
    });
  });
});
