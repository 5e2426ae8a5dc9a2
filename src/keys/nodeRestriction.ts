import { WELL_KNOWN_KEYS, prefixesOf, type KeyPrefixes } from './keys.ts';

/**
 * What the NodeRestriction admission plugin lets a node change in its own labels, as
 * kube-apiserver 1.37 decides it (plugin/pkg/admission/noderestriction getForbiddenLabels, and
 * the kubelet's allowed set in k8s.io/kubelet/pkg/apis/well_known_labels.go). It matters when the
 * agent acts as its node (`kube.identity: node`): every label it adds, changes or removes is then
 * checked by this rule, and annotations are not checked at all.
 */

/** Labels under this domain (or a subdomain) are never a node's to set: they steer workloads to it. */
export const NODE_RESTRICTION_DOMAIN = 'node-restriction.kubernetes.io';

/** Keys under kubernetes.io and k8s.io that a node may set anyway (the kubelet sets them). */
export const KUBELET_LABELS: ReadonlySet<string> = new Set([
  'kubernetes.io/hostname',
  'topology.kubernetes.io/zone',
  'topology.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone',
  'failure-domain.beta.kubernetes.io/region',
  'beta.kubernetes.io/instance-type',
  'node.kubernetes.io/instance-type',
  'kubernetes.io/os',
  'kubernetes.io/arch',
  'beta.kubernetes.io/os',
  'beta.kubernetes.io/arch',
]);

/** Domains under kubernetes.io whose every key (subdomains too) a node may set. */
export const KUBELET_LABEL_DOMAINS = ['kubelet.kubernetes.io', 'node.kubernetes.io'] as const;

const within = (domain: string, parent: string) => domain === parent || domain.endsWith(`.${parent}`);
const isKubernetesDomain = (domain: string) => within(domain, 'kubernetes.io') || within(domain, 'k8s.io');

/** True when NodeRestriction lets a node add, change or remove every label under `domain`. */
export function nodeMaySetLabelsUnder(domain: string): boolean {
  if (within(domain, NODE_RESTRICTION_DOMAIN)) return false;
  return !isKubernetesDomain(domain) || KUBELET_LABEL_DOMAINS.some((d) => within(domain, d));
}

/** True when NodeRestriction lets a node add, change or remove the label `key` on itself. */
export function nodeMaySetLabel(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash < 0) return true;
  const domain = key.slice(0, slash);
  if (within(domain, NODE_RESTRICTION_DOMAIN)) return false;
  return nodeMaySetLabelsUnder(domain) || KUBELET_LABELS.has(key);
}

export interface NodeIdentityProblem {
  field: 'prefix' | 'tagPrefix' | 'wellKnown';
  message: string;
}

/**
 * The label keys a configuration writes that NodeRestriction would refuse to a node, by the field
 * that makes them. The prefix rules (src/keys/keys.ts) already refuse kubernetes.io and k8s.io,
 * so none of today's valid configurations has a problem here (a property test holds that); this
 * is the check that keeps it so when a key rule changes.
 */
export function nodeIdentityProblems(labels: KeyPrefixes & { wellKnown: boolean }): NodeIdentityProblem[] {
  const problems: NodeIdentityProblem[] = [];
  const { prefix, tagPrefix } = prefixesOf(labels);
  const refused = (what: string) => `NodeRestriction does not let a node set ${what}: use another prefix, or kube.identity serviceAccount`;
  if (!nodeMaySetLabelsUnder(prefix)) problems.push({ field: 'prefix', message: refused(`labels under ${prefix}/`) });
  if (!nodeMaySetLabelsUnder(tagPrefix)) problems.push({ field: labels.tagPrefix === undefined ? 'prefix' : 'tagPrefix', message: refused(`labels under ${tagPrefix}/`) });
  const wellKnown = labels.wellKnown ? [...WELL_KNOWN_KEYS].filter((k) => !nodeMaySetLabel(k)) : [];
  if (wellKnown.length > 0) problems.push({ field: 'wellKnown', message: refused(wellKnown.join(', ')) });
  return problems;
}
