import { systemClock, type Clock, type Random } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { ImdsClient } from './client.ts';
import type { InstanceDocument } from './document.ts';
import { ImdsError } from './imdsError.ts';
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
  // Armed until the first time IMDS cannot be reached, and again after each success: a run
  // outside Azure would otherwise say nothing for the whole retry budget (70 s by default).
  let warnUnreachable = true;
  const onRetry = (error: unknown) => {
    if (!warnUnreachable || !isUnreachable(error)) return;
    warnUnreachable = false;
    deps.logger?.warn(
      { err: error, imdsEndpoint: config.endpoint, retryBudgetMs: config.retryBudget },
      unreachableHint(config.endpoint, config.retryBudget),
    );
  };
  return {
    client,
    limiter,
    fetchInstance: async (signal) => {
      const doc = await fetchWithRetry((s) => client.fetchInstance(s), {
        endpoint: 'instance',
        budgetMs: config.retryBudget,
        signal,
        clock,
        random,
        metrics: deps.metrics,
        logger: deps.logger,
        onRetry,
      });
      warnUnreachable = true;
      return doc;
    },
  };
}

/** No answer at all (timeout, refused, unreachable), as opposed to an IMDS that answers with an error. */
const isUnreachable = (error: unknown) => error instanceof ImdsError && (error.kind === 'timeout' || error.kind === 'network');

export function unreachableHint(endpoint: string, retryBudgetMs: number): string {
  return (
    `IMDS at ${endpoint} does not answer; retrying for up to ${Math.round(retryBudgetMs / 1000)}s. ` +
    'IMDS exists only on Azure VMs: outside Azure, try "imds-labeler demo", or point --imds-endpoint at an emulator ("imds-labeler emulator")'
  );
}
