import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { configSchema } from '../../src/config/schema.ts';
import { MAINTENANCE_OFF, unknownMaintenance, type Maintenance } from '../../src/mapping/maintenance.ts';
import { nodeKeys } from '../../src/keys/keys.ts';
import { conditionPatch, planNode, planTaints, type TaintIntent } from '../../src/kube/nodePlan.ts';
import { reconcilePolicy } from '../../src/kube/policy.ts';
import { applyPatch } from '../../src/kube/reconcile.ts';
import type { NodeCondition, NodeMeta, Taint } from '../../src/kube/types.ts';

const keys = nodeKeys('imds-labeler.io');
const STARTUP = 'imds-labeler.io/unlabelled';
const MAINT = 'imds-labeler.io/maintenance';
const CONDITION = 'imds-labeler.io/MaintenanceScheduled';
const ANNOTATION = 'imds-labeler.io/scheduled-event';
const policy = reconcilePolicy(configSchema.parse({}).labels);
const NOW = '2025-05-01T12:00:00Z';

const t = (key: string, effect = 'NoSchedule', value?: string): Taint => ({ key, effect, ...(value === undefined ? {} : { value }) });
const ours = { startup: t(STARTUP), maintenance: t(MAINT) };
const foreign = [t('CriticalAddonsOnly', 'NoSchedule', 'true'), t('node.kubernetes.io/not-ready', 'NoExecute'), t('example.com/gpu', 'NoSchedule', 'a100')];

describe('planTaints keeps every taint but the ones it is told about, in place', () => {
  const remove = (...k: string[]): TaintIntent => ({ remove: k, ensure: [] });
  const ensure = (...ts: Taint[]): TaintIntent => ({ remove: [], ensure: ts });

  it.each<[string, Taint[], TaintIntent, Taint[] | null]>([
    ['no taints, nothing to do', [], remove(STARTUP), null],
    ['the start-up taint removed, foreign ones kept in order', [foreign[0]!, ours.startup, foreign[1]!], remove(STARTUP), [foreign[0]!, foreign[1]!]],
    ['removed whatever its effect', [t(STARTUP, 'NoExecute')], remove(STARTUP), []],
    ['the maintenance taint added at the end', [...foreign], ensure(ours.maintenance), [...foreign, ours.maintenance]],
    ['already there: nothing', [ours.maintenance, ...foreign], ensure(ours.maintenance), null],
    ['our key with another effect is replaced in place', [foreign[0]!, t(MAINT, 'NoExecute'), foreign[2]!], ensure(ours.maintenance), [foreign[0]!, ours.maintenance, foreign[2]!]],
    ['a foreign key that only starts like ours is kept', [t(`${STARTUP}-x`)], remove(STARTUP), null],
    ['removing one and adding the other in one go', [ours.startup, foreign[0]!], { remove: [STARTUP], ensure: [ours.maintenance] }, [foreign[0]!, ours.maintenance]],
  ])('%s', (_name, current, intent, expected) => {
    expect(planTaints(current, intent)?.taints ?? null).toEqual(expected);
  });

  it('property: foreign taints survive any plan, in their order', () => {
    const taint = fc.record({ key: fc.constantFrom('a.example/x', 'b', 'c.example/y', STARTUP, MAINT), effect: fc.constantFrom('NoSchedule', 'NoExecute', 'PreferNoSchedule'), value: fc.option(fc.constantFrom('', '1', 'v'), { nil: undefined }) });
    fc.assert(
      fc.property(fc.array(taint, { maxLength: 8 }), fc.boolean(), fc.boolean(), (current, removeStartup, maintenance) => {
        const intent: TaintIntent = { remove: [...(removeStartup ? [STARTUP] : []), ...(maintenance ? [] : [MAINT])], ensure: maintenance ? [ours.maintenance] : [] };
        const after = planTaints(current, intent)?.taints ?? current;
        const foreignOf = (list: Taint[]) => list.filter((x) => x.key !== STARTUP && x.key !== MAINT);
        expect(foreignOf(after)).toEqual(foreignOf(current));
        if (removeStartup) expect(after.some((x) => x.key === STARTUP)).toBe(false);
        if (maintenance) expect(after.some((x) => x.key === MAINT && x.effect === 'NoSchedule')).toBe(true);
        else expect(after.some((x) => x.key === MAINT)).toBe(false);
      }),
    );
  });
});

describe('conditionPatch: only status, reason and message cause a write', () => {
  const want = { status: 'True' as const, reason: 'RebootScheduled', message: 'Reboot soon' };
  const have = (o: Partial<NodeCondition> = {}): NodeCondition[] => [
    { type: 'Ready', status: 'True', reason: 'KubeletReady' },
    { type: CONDITION, status: 'True', reason: 'RebootScheduled', message: 'Reboot soon', lastHeartbeatTime: '2025-04-01T00:00:00Z', lastTransitionTime: '2025-04-01T00:00:00Z', ...o },
  ];

  it.each<[string, NodeCondition[], typeof want | null, unknown]>([
    ['absent: added, both times now', [], want, { status: { conditions: [{ type: CONDITION, ...want, lastHeartbeatTime: NOW, lastTransitionTime: NOW }] } }],
    ['as wanted, whatever the timestamps: nothing', have(), want, null],
    ['another message: the transition time stays', have({ message: 'older' }), want, { status: { conditions: [{ type: CONDITION, ...want, lastHeartbeatTime: NOW, lastTransitionTime: '2025-04-01T00:00:00Z' }] } }],
    ['another status: the transition time moves', have({ status: 'False' }), want, { status: { conditions: [{ type: CONDITION, ...want, lastHeartbeatTime: NOW, lastTransitionTime: NOW }] } }],
    ['removal of ours: by type, nothing else named', have(), null, { status: { conditions: [{ type: CONDITION, $patch: 'delete' }] } }],
    ['removal when there is none: nothing', [{ type: 'Ready', status: 'True' }], null, null],
  ])('%s', (_name, current, wanted, expected) => {
    expect(conditionPatch(current, CONDITION, wanted, NOW)).toEqual(expected);
  });
});

describe('planNode: labels, taints and condition of one node, one merge patch and one status patch at most', () => {
  const node = (o: Partial<NodeMeta> = {}): NodeMeta => ({ name: 'n1', uid: 'u', resourceVersion: '7', labels: {}, annotations: {}, taints: [], conditions: [], ...o });
  const desired = { labels: { 'imds-labeler.io/zone': '1' }, annotations: {}, skipped: [] };
  const labelled = (o: Partial<NodeMeta> = {}) =>
    node({ labels: { 'imds-labeler.io/zone': '1' }, annotations: { 'imds-labeler.io/owned-labels': 'imds-labeler.io/zone' }, ...o });
  const reboot: Maintenance = {
    condition: { status: 'True', reason: 'RebootScheduled', message: 'Reboot soon' },
    annotations: { [ANNOTATION]: '{"eventId":"r"}' },
    unknownAnnotations: [],
    taint: true,
  };

  it('a new node with the start-up taint: the labels and the taint removal in one patch, guarded by its resourceVersion', () => {
    const plan = planNode(desired, MAINTENANCE_OFF, node({ taints: [foreign[0]!, ours.startup] }), policy, NOW);
    expect(plan.patch).toEqual({
      metadata: { resourceVersion: '7', labels: { 'imds-labeler.io/zone': '1' }, annotations: { 'imds-labeler.io/owned-labels': 'imds-labeler.io/zone' } },
      spec: { taints: [foreign[0]] },
    });
    expect(plan.taints).toEqual({ added: [], removed: [STARTUP] });
    expect(plan.statusPatch).toBeNull();
  });

  it('labels already right, the start-up taint still there: a patch of the taints alone', () => {
    const plan = planNode(desired, MAINTENANCE_OFF, labelled({ taints: [ours.startup] }), policy, NOW);
    expect(plan.patch).toEqual({ metadata: { resourceVersion: '7' }, spec: { taints: [] } });
  });

  it('acting as its node (NodeRestriction refuses taint changes): the labels patched, the taints left alone', () => {
    const asNode = reconcilePolicy(configSchema.parse({ kube: { identity: 'node' } }).labels, 'node');
    const plan = planNode(desired, MAINTENANCE_OFF, node({ taints: [ours.startup] }), asNode, NOW);
    expect(plan.patch).toEqual({ metadata: { resourceVersion: '7', labels: { 'imds-labeler.io/zone': '1' }, annotations: { 'imds-labeler.io/owned-labels': 'imds-labeler.io/zone' } } });
    expect(plan.taints).toEqual({ added: [], removed: [] });
  });

  it('nothing to change: no patch at all', () => {
    expect(planNode(desired, MAINTENANCE_OFF, labelled({ taints: [...foreign] }), policy, NOW)).toMatchObject({ patch: null, statusPatch: null });
  });

  it('a pending reboot: annotation and taint in the merge patch, the condition in the status patch', () => {
    const plan = planNode(desired, reboot, labelled({ taints: [foreign[0]!] }), policy, NOW);
    expect(plan.patch).toEqual({
      metadata: {
        resourceVersion: '7',
        annotations: { [ANNOTATION]: '{"eventId":"r"}', 'imds-labeler.io/owned-annotations': ANNOTATION },
      },
      spec: { taints: [foreign[0], ours.maintenance] },
    });
    expect(plan.statusPatch).toEqual({ status: { conditions: [{ type: CONDITION, ...reboot.condition, lastHeartbeatTime: NOW, lastTransitionTime: NOW }] } });
  });

  it('after the reboot state is on the node, planning again changes nothing', () => {
    const first = planNode(desired, reboot, labelled(), policy, NOW);
    const after = { ...applyPatch(labelled(), first.patch), conditions: [{ type: CONDITION, ...reboot.condition!, lastTransitionTime: NOW }] };
    expect(planNode(desired, reboot, after, policy, '2025-05-01T13:00:00Z')).toMatchObject({ patch: null, statusPatch: null });
  });

  it('events unknown (an outage, or before the first answer): annotation, taint and condition stay as they are', () => {
    const first = planNode(desired, reboot, labelled(), policy, NOW);
    const shown = { ...applyPatch(labelled(), first.patch), conditions: [{ type: CONDITION, ...reboot.condition!, lastTransitionTime: NOW }] };
    expect(planNode(desired, undefined, shown, policy, NOW)).toMatchObject({ patch: null, statusPatch: null });
    const outage = planNode(desired, unknownMaintenance({ keys }), shown, policy, NOW);
    expect(outage.patch).toBeNull();
    expect(outage.statusPatch?.status.conditions[0]).toMatchObject({ type: CONDITION, status: 'Unknown', lastTransitionTime: NOW });
  });

  it('the feature turned off: the annotation, the taint and the condition go', () => {
    const shown = { ...applyPatch(labelled(), planNode(desired, reboot, labelled(), policy, NOW).patch), conditions: [{ type: CONDITION, ...reboot.condition! }] };
    const plan = planNode(desired, MAINTENANCE_OFF, shown, policy, NOW);
    expect(plan.patch?.metadata.annotations).toEqual({ [ANNOTATION]: null, 'imds-labeler.io/owned-annotations': null });
    expect(plan.patch?.spec).toEqual({ taints: [] });
    expect(plan.statusPatch).toEqual({ status: { conditions: [{ type: CONDITION, $patch: 'delete' }] } });
  });
});
