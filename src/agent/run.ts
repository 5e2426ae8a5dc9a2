import { systemClock, type Clock, type Random } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { Metrics } from '../observability/metrics.ts';
import { startObservabilityServer } from '../observability/server.ts';
import { startAgentLoops, type AgentIO, type AgentLoops } from './loops.ts';

export interface AgentDeps extends Omit<AgentIO, 'clock' | 'random' | 'metrics'> {
  config: Config;
  metrics: Metrics;
  clock?: Clock;
  random?: Random;
  /** Stops the agent: polling ends, the watch closes, the write in flight finishes. */
  signal: AbortSignal;
  /** Called once the metrics server listens, with its port (useful with port 0). */
  onListening?: (port: number) => void;
}

/**
 * The agent's lifecycle around its loops (src/agent/loops.ts): the /metrics, /healthz and /readyz
 * server first (a port that cannot be bound fails the start before any API request), then the
 * loops, until the signal aborts. Resolves after a clean shutdown.
 */
export async function runAgent(deps: AgentDeps): Promise<void> {
  const { config, logger, metrics } = deps;
  // Set once the server listens: until then nothing can ask.
  const running: { loops?: AgentLoops } = {};
  const server = await startObservabilityServer({
    port: config.server.port,
    address: config.server.address,
    registry: metrics.registry,
    health: () => running.loops?.health() ?? { ok: true },
    ready: () => running.loops?.ready() ?? { ok: false, reason: 'not ready: starting' },
  });
  deps.onListening?.(server.port);
  logger.info({ node: deps.nodeName, port: server.port, dryRun: config.dryRun, identity: config.kube.identity }, 'imds-labeler agent started');

  const loops = (running.loops = startAgentLoops(config, { ...deps, clock: deps.clock ?? systemClock, random: deps.random ?? Math.random }));
  const signal = deps.signal;
  await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
  logger.info('shutting down');
  await loops.stop();
  await server.close();
  logger.info('stopped');
}
