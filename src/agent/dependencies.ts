import { ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { nodeClientFor } from '../cli/nodeClient.ts';
import { createImds, type ImdsDependencies } from '../imds/index.ts';
import type { NodeClient } from '../kube/nodeClient.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { createMetrics, type Metrics } from '../observability/metrics.ts';
import { VERSION } from '../version.ts';
import type { AgentDeps } from './run.ts';

export interface DependencyOverrides {
  /** Default: a logger as config.log says, to stderr. */
  logger?: Logger;
  /** Default: the agent's registry with process metrics. */
  metrics?: Metrics;
  /** Default: client-node from config.kube.kubeconfig, or the in-cluster configuration. */
  nodeClient?: NodeClient;
  /** Clock and random of the IMDS stack (rate limiter, retries); default the real ones. */
  imds?: Pick<ImdsDependencies, 'clock' | 'random'>;
}

/**
 * What the agent talks to, built from its config: the node's name, the Kubernetes client, the
 * IMDS stack (one rate limiter, one client, a retrying instance fetch), the logger and the
 * metrics registry. The product builds it as it is; the demo and the reliability harness replace
 * the logger or the registry, nothing else. Throws ConfigError (exit 2) when the node's name or
 * the Kubernetes configuration is missing.
 */
export async function buildAgentDependencies(config: Config, overrides: DependencyOverrides = {}): Promise<Omit<AgentDeps, 'config' | 'signal'>> {
  const nodeName = config.kube.nodeName;
  if (!nodeName) throw new ConfigError('kube.nodeName: no node name; pass --node-name or set NODE_NAME (the chart sets it from the downward API)', 'kube.nodeName');
  const logger = overrides.logger ?? createLogger({ level: config.log.level, format: config.log.format });
  const metrics = overrides.metrics ?? createMetrics({ version: VERSION, processMetrics: true });
  const nodeClient = overrides.nodeClient ?? (await nodeClientFor(config.kube.kubeconfig, { component: 'imds-labeler', metrics }));
  const imds = createImds(config.imds, { metrics, logger, ...overrides.imds });
  return { nodeName, nodeClient, fetchInstance: (signal) => imds.fetchInstance(signal), logger, metrics };
}
