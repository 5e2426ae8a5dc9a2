// Deep imports, not the package index: the index re-exports every API group, informers, exec,
// port-forward and more, and the bundle would carry all of it (see docs/performance.md).
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { newClusters, newContexts, newUsers } from '@kubernetes/client-node/dist/config_types.js';
import { ApiException } from '@kubernetes/client-node/dist/gen/apis/exception.js';
import type { ConfigurationOptions } from '@kubernetes/client-node/dist/gen/configuration.js';
import type { RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
import { ObjectCoreV1Api as CoreV1Api } from '@kubernetes/client-node/dist/gen/types/ObjectParamAPI.js';
import { setHeaderOptions } from '@kubernetes/client-node/dist/middleware.js';
import { PatchStrategy } from '@kubernetes/client-node/dist/patch.js';
import { Watch } from '@kubernetes/client-node/dist/watch.js';
import type { Metrics } from '../observability/metrics.ts';
import { parseJsonOrYaml } from '../config/text.ts';
import { VERSION } from '../version.ts';
import { parseRetryAfter } from '../backoff.ts';
import { KubeError, isNetworkError, kindForStatus } from './errors.ts';
import type { NodeClient, NodeList, WatchEnd, WatchHandlers, WatchOptions } from './nodeClient.ts';
import { toNodeMeta, type MetadataPatch, type NodeEvent, type NodeMeta, type WatchEventType } from './types.ts';

const USER_AGENT = `imds-labeler/${VERSION}`;

export interface ClientNodeOptions {
  /** Component name on Events and in the User-Agent. */
  component: string;
  metrics?: Metrics;
  /** Namespace for Node events; the kubelet uses "default" too. */
  eventNamespace?: string;
}

/**
 * A kubeconfig file, read as KubeConfig.loadFromFile reads it (relative paths are relative to
 * the file), or the in-cluster configuration. A kubeconfig in JSON is parsed without loading
 * the YAML parser.
 */
export async function loadKubeConfig(kubeconfig?: string): Promise<KubeConfig> {
  const kc = new KubeConfig();
  if (!kubeconfig) {
    kc.loadFromCluster();
    return kc;
  }
  const file = (await parseJsonOrYaml(readFileSync(kubeconfig, 'utf8'))) as Record<string, unknown> | null;
  if (file === null || typeof file !== 'object' || Array.isArray(file)) throw new Error('not a kubeconfig: no mapping at the top level');
  kc.loadFromOptions({ clusters: newClusters(file.clusters), contexts: newContexts(file.contexts), users: newUsers(file.users), currentContext: file['current-context'] });
  kc.makePathsAbsolute(dirname(kubeconfig));
  return kc;
}

/** NodeClient over @kubernetes/client-node, exactly as it talks to a real cluster. */
export function createClientNodeNodeClient(options: ClientNodeOptions, kc: KubeConfig): NodeClient {
  const core = kc.makeApiClient(CoreV1Api);
  const watcher = new Watch(kc);
  const metrics = options.metrics;
  const count = (verb: string, code: string) => metrics?.kubeRequests.inc({ verb, code });

  async function call<T>(verb: string, fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn();
      count(verb, '200');
      return result;
    } catch (err) {
      const error = classify(err);
      count(verb, error.code);
      throw error;
    }
  }

  return {
    async list({ name, signal } = {}): Promise<NodeList> {
      const list = await call('list', () =>
        core.listNode(name ? { fieldSelector: `metadata.name=${name}` } : {}, requestOptions({ signal })),
      );
      return { nodes: list.items.map(toNodeMeta), resourceVersion: list.metadata?.resourceVersion ?? '' };
    },

    async watch(name: string, opts: WatchOptions, handlers: WatchHandlers): Promise<WatchEnd> {
      // client-node aborts a stream after this much silence; it is our watchdog, set just past
      // the server-side timeout so a healthy but quiet watch is never cut short.
      (watcher as unknown as { requestTimeoutMs: number }).requestTimeoutMs = (opts.timeoutSeconds + 30) * 1000;
      return new Promise<WatchEnd>((resolve) => {
        let gone = false;
        let controller: AbortController | undefined;
        const onAbort = () => controller?.abort();
        opts.signal.addEventListener('abort', onAbort, { once: true });
        const finish = (end: WatchEnd) => {
          opts.signal.removeEventListener('abort', onAbort);
          resolve(end);
        };
        const query = {
          fieldSelector: `metadata.name=${name}`,
          resourceVersion: opts.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: opts.timeoutSeconds,
        };
        watcher
          .watch(
            '/api/v1/nodes',
            query,
            (type: string, object: unknown) => {
              if (type === 'BOOKMARK') handlers.onBookmark(toNodeMeta(object as never).resourceVersion);
              else if (type === 'ERROR') gone ||= (object as { code?: number }).code === 410;
              else handlers.onEvent(type as WatchEventType, toNodeMeta(object as never));
            },
            (err: unknown) => {
              if (gone) return finish({ reason: 'gone' });
              if (!err || opts.signal.aborted) return finish({ reason: 'closed' });
              const status = (err as { statusCode?: number }).statusCode;
              if (status === 410) return finish({ reason: 'gone' });
              finish({ reason: 'error', error: classify(err) });
            },
          )
          .then((c) => {
            count('watch', '200');
            controller = c;
            if (opts.signal.aborted) c.abort();
          })
          .catch((err: unknown) => {
            const error = classify(err);
            count('watch', error.code);
            finish({ reason: 'error', error });
          });
      });
    },

    async patch(name: string, patch: MetadataPatch, signal?: AbortSignal): Promise<NodeMeta> {
      const node = await call('patch', () =>
        core.patchNode({ name, body: patch, fieldManager: options.component }, requestOptions({ contentType: PatchStrategy.MergePatch, signal })),
      );
      return toNodeMeta(node);
    },

    async event(node: NodeMeta, event: NodeEvent): Promise<void> {
      const now = new Date();
      await call('create', () =>
        core.createNamespacedEvent(
          {
          namespace: options.eventNamespace ?? 'default',
          body: {
            metadata: { name: `${node.name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`, namespace: options.eventNamespace ?? 'default' },
            involvedObject: { kind: 'Node', apiVersion: 'v1', name: node.name, uid: node.uid },
            reason: event.reason,
            message: event.message,
            type: event.type,
            source: { component: options.component, host: node.name },
            reportingComponent: options.component,
            reportingInstance: node.name,
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
          },
        },
          requestOptions({}),
        ),
      );
    },
  };
}

/**
 * Per-request options: a content type and an abort signal. client-node's object API expects its
 * own observable middleware, so this builds on the header middleware it exports.
 */
function requestOptions({ contentType, signal }: { contentType?: string; signal?: AbortSignal | undefined }): ConfigurationOptions {
  const [middleware] = setHeaderOptions('User-Agent', USER_AGENT).middleware as { pre: (ctx: RequestContext) => unknown }[];
  const pre = middleware!.pre;
  middleware!.pre = (ctx: RequestContext) => {
    if (contentType) ctx.setHeaderParam('Content-Type', contentType);
    if (signal) ctx.setSignal(signal);
    return pre(ctx);
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' } as unknown as ConfigurationOptions;
}

/** Maps whatever client-node threw to a KubeError, reading Status and Retry-After. */
export function classify(err: unknown): KubeError {
  if (err instanceof KubeError) return err;
  if (err instanceof ApiException) {
    const code = err.code;
    const body = err.body as { message?: string; reason?: string } | string | undefined;
    const reason = typeof body === 'object' && body ? (body.message ?? body.reason) : undefined;
    const retryAfter = parseRetryAfter(headerValue(err.headers, 'retry-after'), Date.now());
    return new KubeError(kindForStatus(code), `Kubernetes API answered ${code}${reason ? `: ${reason}` : ''}`, code, retryAfter);
  }
  const e = err as Error & { statusCode?: number; name?: string };
  if (typeof e?.statusCode === 'number') return new KubeError(kindForStatus(e.statusCode), `Kubernetes API answered ${e.statusCode}`, e.statusCode);
  if (e?.name === 'AbortError') return new KubeError('aborted', 'request aborted');
  if (e?.name === 'TimeoutError') return new KubeError('network', 'request timed out');
  if (isNetworkError(err)) return new KubeError('network', `cannot reach the Kubernetes API: ${rootMessage(err)}`);
  return new KubeError('other', e?.message ?? String(err));
}

function headerValue(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key ? headers[key] : undefined;
}

function rootMessage(err: unknown): string {
  let e = err as { cause?: unknown; code?: string; message?: string };
  while (e?.cause) e = e.cause as typeof e;
  return e?.code ?? e?.message ?? String(err);
}
