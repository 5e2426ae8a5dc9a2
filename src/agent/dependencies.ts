import { ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { nodeClientFor } from '../cli/nodeClient.ts';
import { createImds, type ImdsDependencies } from '../imds/index.ts';
import { nodeUser } from '../kube/identity.ts';
import { createScheduledEventsFetcher } from '../imds/scheduledEvents.ts';
import type { NodeClient } from '../kube/nodeClient.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { createMetrics, type Metrics } from '../observability/metrics.ts';
import { REVISION, VERSION } from '../version.ts';
import type { AgentDeps } from './run.ts';

export interface DependencyOverrides {
  /** Default: a logger as config.log says, to stderr. */
  logger?: Logger;
  /** Default: the agent's registry with process metrics. */
  metrics?: Metrics;
  /** Default: the client from config.kube (kubeconfig files, ~/.kube/config or the in-cluster configuration). */
  nodeClient?: NodeClient;
  /** The environment credential plugins run in, and KUBECONFIG and HOME are read from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Aborts at shutdown: a credential plugin still running is stopped. */
  signal?: AbortSignal;
  /** Clock and random of the IMDS stack (rate limiter, retries); default the real ones. */
  imds?: Pick<ImdsDependencies, 'clock' | 'random'>;
}

/**
 * What the agent talks to, built from its config: the node's name, the Kubernetes client, the
 * IMDS stack (one rate limiter, one client, a retrying instance fetch and a scheduled-events
 * fetch), the logger and the
 * metrics registry. The product builds it as it is; the demo and the reliability harness replace
 * the logger or the registry, nothing else. Throws ConfigError (exit 2) when the node's name or
 * the Kubernetes configuration is missing.
 */
export async function buildAgentDependencies(config: Config, overrides: DependencyOverrides = {}): Promise<Omit<AgentDeps, 'config' | 'signal'>> {
  const nodeName = config.kube.nodeName;
  if (!nodeName) throw new ConfigError('kube.nodeName: no node name; pass --node-name or set NODE_NAME (the chart sets it from the downward API)', 'kube.nodeName');
  const logger = overrides.logger ?? createLogger({ level: config.log.level, format: config.log.format });
  const metrics = overrides.metrics ?? createMetrics({ version: VERSION, revision: REVISION, processMetrics: true });
  const nodeClient =
    overrides.nodeClient ??
    (await nodeClientFor(config.kube, {
      component: 'imds-labeler',
      metrics,
      env: overrides.env ?? process.env,
      ...(config.kube.identity === 'node' ? { impersonate: nodeUser(nodeName) } : {}),
      ...(overrides.signal ? { signal: overrides.signal } : {}),
    }));
  const imds = createImds(config.imds, { metrics, logger, ...overrides.imds });
  // The same client, so the same rate limiter: the VM's IMDS budget is shared by every call.
  const fetchScheduledEvents = createScheduledEventsFetcher({ client: imds.client, requestTimeoutMs: config.imds.requestTimeout, firstCallTimeoutMs: config.scheduledEvents.firstCallTimeout });
  return { nodeName, nodeClient, fetchInstance: (signal) => imds.fetchInstance(signal), fetchScheduledEvents, logger, metrics };
}
