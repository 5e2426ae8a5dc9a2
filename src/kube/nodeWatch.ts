import { KUBE_READ_BACKOFF, backoffDelay, type BackoffPolicy } from '../backoff.ts';
import type { Clock, Random } from '../clock.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { KubeError } from './errors.ts';
import type { NodeClient } from './nodeClient.ts';
import type { NodeMeta } from './types.ts';

export interface NodeWatchOptions {
  client: NodeClient;
  name: string;
  /** Server-side watch timeout; each watch asks for a random value in [t, 2t) so a fleet spreads out. */
  watchTimeoutMs: number;
  clock: Clock;
  random: Random;
  signal: AbortSignal;
  logger: Logger;
  metrics?: Metrics;
  backoff?: BackoffPolicy;
  /** The node as it is now, or null when it does not exist. Called on every list and change. */
  onNode(node: NodeMeta | null): void;
}

/** Grace past the server-side timeout before the watchdog declares a watch silent. */
const WATCHDOG_GRACE_MS = 30_000;

/**
 * Keeps an up-to-date view of one node: list (with a field selector), then watch from the list's
 * resourceVersion; re-watch on a clean close, re-list after 410 Gone (after a jittered pause) and
 * after errors (with backoff). A watchdog aborts a watch that outlives its own timeout.
 * Resolves when the signal aborts.
 */
export async function runNodeWatch(o: NodeWatchOptions): Promise<void> {
  const policy = o.backoff ?? KUBE_READ_BACKOFF;
  let failures = 0;
  const pause = async (ms: number) => o.clock.sleep(ms, o.signal).catch(() => undefined);
  const fail = async (err: unknown, what: string) => {
    const error = err instanceof KubeError ? err : new KubeError('other', String(err));
    const delay = backoffDelay(failures++, policy, o.random, error.retryAfterMs);
    o.logger.warn({ err: error.logFields(), attempt: failures, retryInMs: Math.round(delay) }, `node ${what} failed`);
    await pause(delay);
  };

  while (!o.signal.aborted) {
    let resourceVersion: string;
    try {
      const list = await o.client.list({ name: o.name, signal: o.signal });
      resourceVersion = list.resourceVersion;
      o.onNode(list.nodes.find((n) => n.name === o.name) ?? null);
    } catch (err) {
      if (o.signal.aborted) break;
      await fail(err, 'list');
      continue;
    }

    while (!o.signal.aborted) {
      const timeoutSeconds = Math.max(1, Math.floor((o.watchTimeoutMs / 1000) * (1 + o.random())));
      const watch = new AbortController();
      const stopWatch = () => watch.abort();
      o.signal.addEventListener('abort', stopWatch, { once: true });
      let watchdogFired = false;
      const watchdog = new AbortController();
      void o.clock.sleep(timeoutSeconds * 1000 + WATCHDOG_GRACE_MS, watchdog.signal).then(
        () => {
          watchdogFired = true;
          watch.abort();
        },
        () => undefined,
      );
      const end = await o.client.watch(
        o.name,
        { resourceVersion, timeoutSeconds, signal: watch.signal },
        {
          onEvent: (type, node) => {
            failures = 0;
            resourceVersion = node.resourceVersion;
            if (node.name === o.name) o.onNode(type === 'DELETED' ? null : node);
          },
          onBookmark: (rv) => {
            if (rv) resourceVersion = rv;
          },
        },
      );
      watchdog.abort();
      o.signal.removeEventListener('abort', stopWatch);
      if (o.signal.aborted) return;

      if (watchdogFired) {
        o.metrics?.watchRestarts.inc({ reason: 'watchdog' });
        o.logger.warn({ timeoutSeconds }, 'node watch went silent past its timeout; restarting it');
        continue;
      }
      if (end.reason === 'closed') {
        o.metrics?.watchRestarts.inc({ reason: 'timeout' });
        continue;
      }
      if (end.reason === 'gone' || (end.error as KubeError).kind === 'gone') {
        o.metrics?.watchRestarts.inc({ reason: 'gone' });
        o.logger.info('node watch resourceVersion expired (410); listing again');
        await pause(o.random() * 1000);
        break;
      }
      o.metrics?.watchRestarts.inc({ reason: 'error' });
      await fail(end.error, 'watch');
      break;
    }
  }
}
