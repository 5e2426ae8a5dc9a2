import type { ConfigInput } from './schema.ts';

/**
 * The public command-line and environment interface, declared once: the flag parser, the
 * environment reader and the CLI reference in the README all come from this table.
 */
export interface OptionSpec {
  flag: string;
  /** Dotted path into the config file's structure. */
  path: string;
  kind: 'string' | 'number' | 'boolean' | 'list';
  help: string;
  /** Extra environment variables read, after IMDS_LABELER_<FLAG>. */
  envAliases?: readonly string[];
}

export const OPTIONS: readonly OptionSpec[] = [
  { flag: 'imds-endpoint', path: 'imds.endpoint', kind: 'string', help: 'IMDS base URL (default http://169.254.169.254)' },
  { flag: 'api-version', path: 'imds.apiVersion', kind: 'string', help: 'IMDS api-version to ask for first (default 2025-04-07)' },
  { flag: 'poll-period', path: 'poll.period', kind: 'string', help: 'time between IMDS polls, e.g. 60s or 500ms; 100ms to 24h (default 60s)' },
  { flag: 'poll-jitter', path: 'poll.jitter', kind: 'number', help: 'jitter as a fraction of the period, 0 to 0.5 (default 0.2)' },
  { flag: 'initial-delay', path: 'poll.initialDelay', kind: 'string', help: 'delay before the first poll, at most 1h (default 0s)' },
  { flag: 'label-prefix', path: 'labels.prefix', kind: 'string', help: 'prefix of every label and annotation (default imds-labeler.io)' },
  { flag: 'tag-prefix', path: 'labels.tagPrefix', kind: 'string', help: 'prefix of tag labels (default tags.<label-prefix>)' },
  { flag: 'tag-include', path: 'labels.tags.include', kind: 'list', help: 'glob of tag names to map; repeatable or comma-separated (default *)' },
  { flag: 'tag-exclude', path: 'labels.tags.exclude', kind: 'list', help: 'glob of tag names to leave out; repeatable or comma-separated' },
  { flag: 'extras', path: 'labels.extras', kind: 'list', help: 'optional labels: spot,security,physicalZone,subFaultDomain,osType,hostGroup' },
  { flag: 'well-known-labels', path: 'labels.wellKnown', kind: 'boolean', help: 'also write topology.kubernetes.io/zone|region and node.kubernetes.io/instance-type' },
  { flag: 'node-name', path: 'kube.nodeName', kind: 'string', help: 'the node to label (default $NODE_NAME)', envAliases: ['NODE_NAME'] },
  { flag: 'kubeconfig', path: 'kube.kubeconfig', kind: 'string', help: 'kubeconfig file (default in-cluster config)', envAliases: ['KUBECONFIG'] },
  { flag: 'resync-period', path: 'kube.resyncPeriod', kind: 'string', help: 'periodic full reconcile, jittered; 1s to 24h (default 10m)' },
  { flag: 'watch-timeout', path: 'kube.watchTimeout', kind: 'string', help: 'server-side watch timeout, jittered; 1s to 1h (default 5m)' },
  { flag: 'events', path: 'kube.events', kind: 'boolean', help: 'emit Kubernetes Events on label changes (default true)' },
  { flag: 'port', path: 'server.port', kind: 'number', help: 'port of /metrics, /healthz and /readyz (default 9721; 0 picks a free one)' },
  { flag: 'address', path: 'server.address', kind: 'string', help: 'address of the metrics and health server (default 0.0.0.0)' },
  { flag: 'log-level', path: 'log.level', kind: 'string', help: 'trace, debug, info, warn, error (default info)' },
  { flag: 'log-format', path: 'log.format', kind: 'string', help: 'json (default) or pretty, for local runs' },
  { flag: 'dry-run', path: 'dryRun', kind: 'boolean', help: 'log the changes, write nothing' },
];

export const envName = (flag: string) => `IMDS_LABELER_${flag.toUpperCase().replaceAll('-', '_')}`;

export type PartialConfig = Partial<Record<string, unknown>> & ConfigInput;
