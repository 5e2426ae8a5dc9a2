import { systemClock, type Clock, type Random } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { ImdsClient } from './client.ts';
import type { InstanceDocument } from './document.ts';
import { RateLimiter } from './rateLimiter.ts';
import { fetchWithRetry } from './retry.ts';

export { ImdsClient, INSTANCE_PATH, type ImdsClientOptions } from './client.ts';
export { ImdsError, parseRetryAfter, type ImdsEndpoint, type ImdsErrorKind } from './imdsError.ts';
export { AgentError, isRetryable } from '../agentError.ts';
export { MAX_REQUESTS_PER_SECOND, RateLimiter, RateLimiterConfigError, RateLimiterError, validateRateLimit } from './rateLimiter.ts';
export { fetchWithRetry, type RetryOptions } from './retry.ts';
export { runPoller, type PollerOptions } from './poller.ts';

export interface ImdsDependencies {
  metrics?: Metrics;
  logger?: Logger;
  clock?: Clock;
  random?: Random;
}

export interface Imds {
  client: ImdsClient;
  /** The process-wide token bucket; every IMDS call, present and future, must go through it. */
  limiter: RateLimiter;
  /** The instance document, retried within config.retryBudget. Throws ImdsError. */
  fetchInstance(signal?: AbortSignal): Promise<InstanceDocument>;
}

/**
 * Builds the IMDS stack of the agent: one rate limiter, one client on it, and a retrying
 * instance fetch. Build it once per process: a second stack would have a limiter of its own.
 */
export function createImds(config: Config['imds'], deps: ImdsDependencies = {}): Imds {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? Math.random;
  const limiter = new RateLimiter({
    requestsPerSecond: config.rateLimit.requestsPerSecond,
    burst: config.rateLimit.burst,
    clock,
    metrics: deps.metrics,
  });
  const client = new ImdsClient({
    endpoint: config.endpoint,
    apiVersion: config.apiVersion,
    connectTimeoutMs: config.connectTimeout,
    requestTimeoutMs: config.requestTimeout,
    maxResponseBytes: config.maxResponseBytes,
    limiter,
    clock,
    metrics: deps.metrics,
    logger: deps.logger,
  });
  return {
    client,
    limiter,
    fetchInstance: (signal) =>
      fetchWithRetry((s) => client.fetchInstance(s), {
        endpoint: 'instance',
        budgetMs: config.retryBudget,
        signal,
        clock,
        random,
        metrics: deps.metrics,
        logger: deps.logger,
      }),
  };
}
