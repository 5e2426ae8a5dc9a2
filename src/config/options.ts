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
  /**
   * The commands that take the flag and list it in their --help: the ones it changes what they
   * do. Another command refuses it as a flag; the config file and the environment, which every
   * command shares, may still set the field.
   */
  commands: readonly ConfigCommand[];
}

export const CONFIG_COMMANDS = ['agent', 'render', 'cleanup'] as const;
export type ConfigCommand = (typeof CONFIG_COMMANDS)[number];

const AGENT = ['agent'] as const;
const LABELS = ['agent', 'render', 'cleanup'] as const;
const MAPPING = ['agent', 'render'] as const;
const KUBE = ['agent', 'cleanup'] as const;

export const OPTIONS: readonly OptionSpec[] = [
  { flag: 'imds-endpoint', path: 'imds.endpoint', kind: 'string', help: 'IMDS base URL (default http://169.254.169.254)', commands: AGENT },
  { flag: 'api-version', path: 'imds.apiVersion', kind: 'string', help: 'IMDS api-version to ask for first (default 2025-04-07)', commands: AGENT },
  { flag: 'connect-timeout', path: 'imds.connectTimeout', kind: 'string', help: 'TCP connect timeout of one IMDS request (default 2s)', commands: AGENT },
  { flag: 'request-timeout', path: 'imds.requestTimeout', kind: 'string', help: 'timeout of one whole IMDS request (default 5s)', commands: AGENT },
  { flag: 'max-response-bytes', path: 'imds.maxResponseBytes', kind: 'number', help: 'largest IMDS answer accepted, 1024 to 16777216 (default 1048576)', commands: AGENT },
  { flag: 'rate-limit', path: 'imds.rateLimit.requestsPerSecond', kind: 'number', help: 'steady IMDS requests per second of the process; with the burst at most 4 (default 2)', commands: AGENT },
  { flag: 'rate-limit-burst', path: 'imds.rateLimit.burst', kind: 'number', help: 'IMDS requests allowed at once above the rate, 1 or 2 (default 2)', commands: AGENT },
  { flag: 'retry-budget', path: 'imds.retryBudget', kind: 'string', help: 'how long the retries of one poll may go on (default 70s: IMDS answers 410 after boot)', commands: AGENT },
  { flag: 'poll-period', path: 'poll.period', kind: 'string', help: 'time between IMDS polls, e.g. 60s or 500ms; 100ms to 24h (default 60s)', commands: AGENT },
  { flag: 'poll-jitter', path: 'poll.jitter', kind: 'number', help: 'jitter as a fraction of the period, 0 to 0.5 (default 0.2)', commands: AGENT },
  { flag: 'initial-delay', path: 'poll.initialDelay', kind: 'string', help: 'delay before the first poll, at most 1h (default 0s)', commands: AGENT },
  { flag: 'label-prefix', path: 'labels.prefix', kind: 'string', help: 'prefix of every label and annotation (default imds-labeler.io)', commands: LABELS },
  { flag: 'tag-prefix', path: 'labels.tagPrefix', kind: 'string', help: 'prefix of tag labels (default tags.<label-prefix>)', commands: LABELS },
  { flag: 'tag-include', path: 'labels.tags.include', kind: 'list', help: 'glob of tag names to map; repeatable or comma-separated (default *)', commands: MAPPING },
  { flag: 'tag-exclude', path: 'labels.tags.exclude', kind: 'list', help: 'glob of tag names to leave out; repeatable or comma-separated', commands: MAPPING },
  { flag: 'extras', path: 'labels.extras', kind: 'list', help: 'optional labels: spot,security,physicalZone,subFaultDomain,osType,hostGroup', commands: MAPPING },
  { flag: 'well-known-labels', path: 'labels.wellKnown', kind: 'boolean', help: 'also write topology.kubernetes.io/zone|region and node.kubernetes.io/instance-type', commands: LABELS },
  { flag: 'node-name', path: 'kube.nodeName', kind: 'string', help: 'the node to label (default $NODE_NAME)', envAliases: ['NODE_NAME'], commands: KUBE },
  { flag: 'kubeconfig', path: 'kube.kubeconfig', kind: 'string', help: "kubeconfig file, or files separated by ':' merged as kubectl does (default ~/.kube/config, then in-cluster)", envAliases: ['KUBECONFIG'], commands: KUBE },
  { flag: 'context', path: 'kube.context', kind: 'string', help: "kubeconfig context to use instead of its current-context", commands: KUBE },
  { flag: 'credential-timeout', path: 'kube.credentialTimeout', kind: 'string', help: 'how long a kubeconfig exec credential plugin may take before it is stopped (default 30s)', commands: KUBE },
  { flag: 'resync-period', path: 'kube.resyncPeriod', kind: 'string', help: 'periodic full reconcile, jittered; 1s to 24h (default 10m)', commands: AGENT },
  { flag: 'watch-timeout', path: 'kube.watchTimeout', kind: 'string', help: 'server-side watch timeout, jittered; 1s to 1h (default 5m)', commands: AGENT },
  { flag: 'identity', path: 'kube.identity', kind: 'string', help: 'serviceAccount (default), or node: act as system:node:<node-name> (Kubernetes 1.36+)', commands: AGENT },
  { flag: 'events', path: 'kube.events', kind: 'boolean', help: 'emit Kubernetes Events on label changes (default true)', commands: AGENT },
  { flag: 'scheduled-events', path: 'scheduledEvents.enabled', kind: 'boolean', help: "show this VM's Azure scheduled events on the node: condition, annotation, Events, metrics (default false)", commands: AGENT },
  { flag: 'scheduled-events-period', path: 'scheduledEvents.period', kind: 'string', help: 'time between scheduled-events polls, 1s to 5m (default 10s)', commands: AGENT },
  { flag: 'scheduled-events-first-call-timeout', path: 'scheduledEvents.firstCallTimeout', kind: 'string', help: 'timeout of the first scheduled-events call and of each after a failure (default 150s: turning the service on takes up to 2m)', commands: AGENT },
  { flag: 'disruptive-events', path: 'scheduledEvents.disruptive', kind: 'list', help: 'event types that set the condition True and the taint (default Reboot,Redeploy,Preempt,Terminate)', commands: AGENT },
  { flag: 'maintenance-taint', path: 'scheduledEvents.taint', kind: 'boolean', help: 'taint the node NoSchedule while a disruptive scheduled event is pending (default false)', commands: AGENT },
  { flag: 'port', path: 'server.port', kind: 'number', help: 'port of /metrics, /healthz and /readyz (default 9721; 0 picks a free one)', commands: AGENT },
  { flag: 'address', path: 'server.address', kind: 'string', help: 'address of the metrics and health server (default 0.0.0.0)', commands: AGENT },
  { flag: 'log-level', path: 'log.level', kind: 'string', help: 'trace, debug, info, warn, error (default info)', commands: KUBE },
  { flag: 'log-format', path: 'log.format', kind: 'string', help: 'json (default) or pretty, for local runs', commands: KUBE },
  { flag: 'dry-run', path: 'dryRun', kind: 'boolean', help: 'log the changes, write nothing', commands: KUBE },
];

export const optionsOf = (command: ConfigCommand) => OPTIONS.filter((o) => o.commands.includes(command));

/** The commands that take a shared flag (by its name without dashes), none when no command does. */
export const commandsTaking = (flag: string): readonly ConfigCommand[] => OPTIONS.find((o) => o.flag === flag)?.commands ?? [];

/** Edit distance with transpositions (optimal string alignment), for "did you mean" on a typo. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known flag closest to a mistyped one, when close enough to be what was meant: within a
 * third of its length in edits, or the only flag it is the start of.
 */
export function closestFlag(typed: string, known: readonly string[]): string | undefined {
  const name = typed.replace(/^-+/, '').replace(/=.*$/, '').replace(/^no-/, '');
  if (name === '') return undefined;
  const starts = known.filter((k) => k.startsWith(name));
  if (starts.length === 1) return starts[0];
  let best: { flag: string; d: number } | undefined;
  for (const flag of known) {
    const d = distance(name, flag);
    if (!best || d < best.d) best = { flag, d };
  }
  return best && best.d <= Math.max(1, Math.floor(best.flag.length / 3)) ? best.flag : undefined;
}

/** A command, to name in the message about a flag it does not take; `elsewhere` lists the commands that do take it. */
export interface FlagContext {
  command: string;
  elsewhere: (flag: string) => readonly string[];
}

/**
 * node:util parseArgs's error as one line a person can act on: an unknown flag is named, with the
 * closest known one when there is one, and the commands that take it when it is another's.
 */
export function describeFlagError(err: unknown, known: readonly string[], context?: FlagContext): string {
  const e = err as { code?: string; message?: string };
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const typed = /'(-[^']*)'/.exec(e.message ?? '')?.[1] ?? '';
    const near = closestFlag(typed, known);
    const negated = typed.startsWith('--no-') ? 'no-' : '';
    const hint = near ? `; did you mean --${negated}${near}?` : '';
    const name = typed.replace(/^-+/, '').replace(/=.*$/, '');
    const takers = context ? [name, name.replace(/^no-/, '')].map(context.elsewhere).find((c) => c.length > 0) : undefined;
    if (context && takers) return `${context.command} takes no ${typed.replace(/=.*$/, '')}: it is a flag of ${takers.join(' and ')}${hint}`;
    return `unknown flag ${typed}${hint}`;
  }
  return String(e.message ?? err).split('. To specify a positional')[0]!;
}

export const envName = (flag: string) => `IMDS_LABELER_${flag.toUpperCase().replaceAll('-', '_')}`;

export type PartialConfig = Partial<Record<string, unknown>> & ConfigInput;
