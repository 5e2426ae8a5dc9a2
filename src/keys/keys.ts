import { DNS_SUBDOMAIN_MAX_LENGTH, isDnsSubdomain, isQualifiedName } from './names.ts';

/**
 * The product's rules for the keys it writes, in one place: its prefixes and their defaults, the
 * domains that belong to others, the well-known keys, the ownership record's keys, and the checks
 * that every key a configuration derives is one Kubernetes accepts. The config schema, the
 * mapping, the reconcile policy and cleanup use these; test/chart/key-rules.test.ts checks the
 * chart's helpers (charts/imds-labeler/templates/_helpers.tpl, values.schema.json) against them.
 */

export const DEFAULT_PREFIX = 'imds-labeler.io';

/** The tag prefix when none is configured. */
export const defaultTagPrefix = (prefix: string): string => `tags.${prefix}`;

/** The longest prefix whose default tag prefix is still a DNS subdomain. */
export const MAX_PREFIX_LENGTH_WITH_DEFAULT_TAG_PREFIX = DNS_SUBDOMAIN_MAX_LENGTH - defaultTagPrefix('').length;

/** Domains that belong to Kubernetes and AKS: no prefix may be one of them or under one. */
export const RESERVED_DOMAINS = ['kubernetes.io', 'k8s.io', 'kubernetes.azure.com'] as const;

export const isReservedDomain = (domain: string): boolean => RESERVED_DOMAINS.some((r) => domain === r || domain.endsWith(`.${r}`));

/** isReservedDomain as a pattern, for values.schema.json. */
export const RESERVED_DOMAIN_PATTERN = `(^|\\.)(${RESERVED_DOMAINS.map((d) => d.replaceAll('.', '\\.')).join('|')})$`;

/** Why the reserved domains are refused, in the agent's messages and the values schema's. */
export const RESERVED_DOMAINS_RULE = `${RESERVED_DOMAINS.join(', ').replace(/, ([^,]*)$/, ' and $1')} belong to Kubernetes and AKS`;

/** The well-known keys, written only on opt-in (`labels.wellKnown`) and never over another writer's value. */
export const WELL_KNOWN = {
  zone: 'topology.kubernetes.io/zone',
  region: 'topology.kubernetes.io/region',
  instanceType: 'node.kubernetes.io/instance-type',
} as const;

export const WELL_KNOWN_KEYS: ReadonlySet<string> = new Set(Object.values(WELL_KNOWN));

/** Keys that belong to someone else unless the agent wrote them: the well-known ones. */
export const isWellKnownKey = (key: string): boolean => WELL_KNOWN_KEYS.has(key);

/** The annotations that record which keys the agent wrote (see src/kube/ownership.ts). */
export interface OwnershipKeys {
  labels: string;
  annotations: string;
}

export const ownershipKeys = (prefix: string): OwnershipKeys => ({
  labels: `${prefix}/owned-labels`,
  annotations: `${prefix}/owned-annotations`,
});

export interface KeyPrefixes {
  prefix: string;
  /** Absent or empty: defaultTagPrefix(prefix). Empty counts as absent, as in the environment and the chart, where a key cannot be left out. */
  tagPrefix?: string | undefined;
}

export interface Prefixes {
  prefix: string;
  tagPrefix: string;
}

/** The prefixes, with the tag prefix defaulted. */
export const prefixesOf = (labels: KeyPrefixes): Prefixes => ({ prefix: labels.prefix, tagPrefix: labels.tagPrefix || defaultTagPrefix(labels.prefix) });

/** Why `value` cannot be a prefix (configured as such), or undefined when it can. */
export function prefixProblem(value: string): string | undefined {
  if (!isDnsSubdomain(value)) return `must be a lowercase DNS subdomain of at most ${DNS_SUBDOMAIN_MAX_LENGTH} characters, such as ${DEFAULT_PREFIX}`;
  if (isReservedDomain(value)) return `${RESERVED_DOMAINS_RULE}: use a prefix of your own`;
  return undefined;
}

export interface KeyProblem {
  /** The field of `labels` to blame: the one the user set that made the key. */
  field: 'prefix' | 'tagPrefix';
  message: string;
}

/**
 * The prefixes checked as Kubernetes will check the keys under them, the tag prefix also when it
 * is the default (five characters longer than the prefix). Every key the agent writes is
 * `<prefix>/<name>`, `<tagPrefix>/<name>` or a well-known key, and the names are constants or
 * checked one by one (tags), so no problem here means every key is valid: a property test of the
 * mapping proves it.
 */
export function keyProblems(labels: KeyPrefixes): KeyProblem[] {
  const problems: KeyProblem[] = [];
  const own = prefixProblem(labels.prefix);
  if (own) problems.push({ field: 'prefix', message: own });
  if (labels.tagPrefix) {
    const tag = prefixProblem(labels.tagPrefix);
    if (tag) problems.push({ field: 'tagPrefix', message: tag });
  } else if (!own) {
    const derived = defaultTagPrefix(labels.prefix);
    if (prefixProblem(derived)) {
      problems.push({
        field: 'prefix',
        message: `makes the tag prefix (${defaultTagPrefix('<prefix>')}) ${derived.length} characters long, over the ${DNS_SUBDOMAIN_MAX_LENGTH} of a DNS subdomain: use a prefix of at most ${MAX_PREFIX_LENGTH_WITH_DEFAULT_TAG_PREFIX} characters, or set labels.tagPrefix`,
      });
    }
  }
  return problems;
}

/**
 * True only for keys the agent may write: valid keys under the prefix or the tag prefix (exactly
 * those domains, not their subdomains), and the well-known keys when opted in.
 */
export function isOwnKey(key: string, labels: KeyPrefixes & { wellKnown: boolean }): boolean {
  if (!isQualifiedName(key)) return false;
  if (labels.wellKnown && WELL_KNOWN_KEYS.has(key)) return true;
  const slash = key.indexOf('/');
  if (slash < 0) return false;
  const domain = key.slice(0, slash);
  // Defence in depth: the config schema already refuses these as prefixes.
  if (isReservedDomain(domain)) return false;
  const { prefix, tagPrefix } = prefixesOf(labels);
  return domain === prefix || domain === tagPrefix;
}

/** isOwnKey bound to a config, for the reconcile's `mayOwn`. */
export const ownedKeyFilter =
  (labels: KeyPrefixes & { wellKnown: boolean }): ((key: string) => boolean) =>
  (key) =>
    isOwnKey(key, labels);

/**
 * The node's taints and condition that belong to the agent, all derived from the prefix so two
 * installs with different prefixes never share one, and never AKS's own (`VMEventScheduled`,
 * `remediator.kubernetes.azure.com/unschedulable`):
 * - `startupTaint`: nodes may register with it (kubelet `--register-with-taints`, a node pool's
 *   taints); the agent removes it once the node's labels match IMDS, so no pod lands on a node a
 *   DoNotSchedule spread cannot see yet.
 * - `maintenanceTaint`: optional, while a disruptive scheduled event is pending.
 * - `maintenanceCondition`: the node condition type (written through nodes/status) and
 *   `scheduledEventAnnotation`, the next event as JSON.
 */
export interface NodeKeys {
  startupTaint: string;
  maintenanceTaint: string;
  maintenanceCondition: string;
  scheduledEventAnnotation: string;
}

export const nodeKeys = (prefix: string): NodeKeys => ({
  startupTaint: `${prefix}/unlabelled`,
  maintenanceTaint: `${prefix}/maintenance`,
  maintenanceCondition: `${prefix}/MaintenanceScheduled`,
  scheduledEventAnnotation: `${prefix}/scheduled-event`,
});

/** The effect of both of the agent's taints: pods are kept off, running ones stay. */
export const TAINT_EFFECT = 'NoSchedule';
