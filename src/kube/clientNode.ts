import type http from 'node:http';
import type https from 'node:https';
import type { Metrics } from '../observability/metrics.ts';
import { VERSION } from '../version.ts';
import { parseRetryAfter } from '../backoff.ts';
import { IMPERSONATION_ADVICE, KubeError, describeStatus, isImpersonationRefusal, isNetworkError, kindForStatus } from './errors.ts';
import { CredentialError } from './execCredential.ts';
import { pool, readLines, readText, send, type TlsSettings } from './httpTransport.ts';
import type { LoadedKubeConfig } from './kubeconfig.ts';
import type { NodeClient, NodeList, WatchEnd, WatchHandlers, WatchOptions } from './nodeClient.ts';
import { toNodeMeta, type MetadataPatch, type NodeEvent, type NodeMeta, type StatusPatch, type WatchEventType } from './types.ts';

export { loadKubeConfig, KubeConfigError, type LoadedKubeConfig, type KubeConfigSource } from './kubeconfig.ts';

const USER_AGENT = `imds-labeler/${VERSION}`;
/** Socket silence that fails a list, patch or create (a watch allows its server-side timeout and more). */
const REQUEST_IDLE_MS = 60_000;
/** How long an auth provider other than exec (OIDC refresh, a token file) may take, past the exec timeout. */
const AUTH_MARGIN_MS = 1_000;

export interface ClientNodeOptions {
  /** Component name on Events and in the User-Agent. */
  component: string;
  metrics?: Metrics;
  /** Namespace for Node events; the kubelet uses "default" too. */
  eventNamespace?: string;
  /** How long getting credentials may take (an exec plugin is stopped after this); default 30 s. */
  credentialTimeoutMs?: number;
  /**
   * Act as this user on every request (Impersonate-User, and nothing else: constrained
   * impersonation of a node accepts the user name alone and sets the group system:nodes itself).
   */
  impersonate?: string;
}

/**
 * NodeClient for the five calls the agent makes (list nodes by name, watch that node, merge-patch
 * it, strategic-merge-patch its status, create an Event), as plain HTTP requests over node:http/https,
 * as the credentials' user or, with `impersonate`, as the user it names.
 *
 * client-node's KubeConfig does what is worth sharing with every other Kubernetes client: it
 * reads kubeconfig files and the in-cluster service account, and applyToHTTPSOptions puts the
 * credentials (token files re-read as they rotate, client certificates, auth providers, exec
 * plugins through src/kube/execCredential.ts) and TLS settings on each request. Its generated
 * API layer (three layers of ~260 operations, 750 models, undici) is not used: five requests do
 * not need it, and the bundle had to cut it down by rewriting its source (docs/performance.md).
 */
export function createClientNodeNodeClient(options: ClientNodeOptions, loaded: LoadedKubeConfig): NodeClient {
  const { kc } = loaded;
  const metrics = options.metrics;
  const namespace = options.eventNamespace ?? 'default';
  const credentialTimeoutMs = options.credentialTimeoutMs ?? 30_000;
  const count = (verb: string, code: string) => metrics?.kubeRequests.inc({ verb, code });
  let credentialProblem: string | undefined;
  /** Set while the API server refuses the impersonation: no request can succeed until RBAC or the cluster changes. */
  let impersonationProblem: string | undefined;
  let proxyAgent: ((o: https.AgentOptions) => http.Agent) | undefined;

  /** Headers, agent and basic auth for one request, from the kubeconfig's current context. */
  async function prepare(protocol: string, signal: AbortSignal | undefined): Promise<{ headers: Record<string, string>; agent: http.Agent; auth: string | undefined }> {
    const opts: https.RequestOptions & { headers: Record<string, string> } = { headers: {} };
    try {
      await bounded(kc.applyToHTTPSOptions(opts), credentialTimeoutMs + AUTH_MARGIN_MS, signal);
      credentialProblem = undefined;
    } catch (err) {
      if (signal?.aborted) throw new KubeError('aborted', 'request aborted');
      const message = `cannot get credentials for the Kubernetes API: ${err instanceof CredentialError || err instanceof AuthTimeout ? err.message : String((err as Error)?.message ?? err).split('\n')[0]}`;
      credentialProblem = message;
      throw new KubeError('credentials', message);
    }
    // client-go trims a token file; client-node does not, and a newline is not valid in a header.
    for (const [k, v] of Object.entries(opts.headers)) if (typeof v === 'string') opts.headers[k] = v.trim();
    if (options.impersonate) opts.headers['Impersonate-User'] = options.impersonate;
    if (loaded.proxyUrl && !proxyAgent) proxyAgent = await proxyAgentFor(loaded.proxyUrl, protocol);
    const agent = pool(protocol, opts as TlsSettings, proxyAgent);
    return { headers: opts.headers, agent, auth: typeof opts.auth === 'string' ? opts.auth : undefined };
  }

  interface Call {
    verb: string;
    method: string;
    path: string;
    query?: Record<string, string | number | boolean | undefined>;
    body?: unknown;
    contentType?: string;
    signal?: AbortSignal | undefined;
    /** Strings the request carried that an error message must not repeat (label and annotation values). */
    redact?: string[];
  }

  function urlOf(path: string, query: Call['query'] = {}): URL {
    const url = new URL(`${loaded.server}${path}`);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  async function open(c: Call, idleTimeoutMs: number): Promise<http.IncomingMessage> {
    const url = urlOf(c.path, c.query);
    const { headers, agent, auth } = await prepare(url.protocol, c.signal);
    const body = c.body === undefined ? undefined : JSON.stringify(c.body);
    try {
      return await send(url, {
        method: c.method,
        headers: {
          ...headers,
          Accept: 'application/json',
          'User-Agent': USER_AGENT,
          ...(body !== undefined ? { 'Content-Type': c.contentType ?? 'application/json', 'Content-Length': String(Buffer.byteLength(body)) } : {}),
        },
        agent,
        ...(body !== undefined ? { body } : {}),
        signal: c.signal,
        idleTimeoutMs,
        auth,
      });
    } catch (err) {
      throw transportError(err, c.signal);
    }
  }

  /** A request whose JSON answer is wanted; a non-2xx answer is a KubeError with the API server's message. */
  async function call<T>(c: Call): Promise<T> {
    try {
      const res = await open(c, REQUEST_IDLE_MS);
      let text: string;
      try {
        text = await readText(res);
      } catch (err) {
        throw transportError(err, c.signal);
      }
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) throw statusError(status, res.headers, text, c.redact);
      impersonationProblem = undefined;
      count(c.verb, String(status));
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new KubeError('other', `Kubernetes API answered ${status} with a body that is not JSON`, status);
      }
    } catch (err) {
      const error = err instanceof KubeError ? err : new KubeError('other', String((err as Error)?.message ?? err));
      count(c.verb, error.code);
      throw error;
    }
  }

  function statusError(status: number, headers: http.IncomingHttpHeaders, text: string, redact?: string[]): KubeError {
    // A refused credential: the next request runs the exec plugin again, as kubectl does.
    if (status === 401) loaded.exec.invalidate();
    const retryAfter = parseRetryAfter(headerText(headers['retry-after']), Date.now());
    if (options.impersonate && isImpersonationRefusal(status, text)) {
      impersonationProblem = `the API server refuses to let this service account act as ${options.impersonate} (kube.identity node); the log says why`;
      return new KubeError('forbidden', describeStatus(status, text, redact, IMPERSONATION_ADVICE), status);
    }
    return new KubeError(kindForStatus(status), describeStatus(status, text, redact), status, retryAfter);
  }

  return {
    async list({ name, limit, continue: token, signal } = {}): Promise<NodeList> {
      const list = await call<{ items?: unknown[]; metadata?: { resourceVersion?: string; continue?: string } }>({
        verb: 'list',
        method: 'GET',
        path: '/api/v1/nodes',
        query: { fieldSelector: name ? `metadata.name=${name}` : undefined, limit: limit ? String(limit) : undefined, continue: token || undefined },
        signal,
      });
      const next = list.metadata?.continue;
      return { nodes: (list.items ?? []).map((n) => toNodeMeta(n as never)), resourceVersion: list.metadata?.resourceVersion ?? '', ...(next ? { continue: next } : {}) };
    },

    async watch(name: string, opts: WatchOptions, handlers: WatchHandlers): Promise<WatchEnd> {
      const c: Call = {
        verb: 'watch',
        method: 'GET',
        path: '/api/v1/nodes',
        query: { fieldSelector: `metadata.name=${name}`, resourceVersion: opts.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: opts.timeoutSeconds, watch: true },
        signal: opts.signal,
      };
      let res: http.IncomingMessage;
      try {
        // The watchdog: a stream silent for longer than the server-side timeout and a margin is dead.
        res = await open(c, (opts.timeoutSeconds + 30) * 1000);
      } catch (err) {
        const error = err instanceof KubeError ? err : new KubeError('other', String(err));
        count('watch', error.code);
        return error.kind === 'aborted' ? { reason: 'closed' } : { reason: 'error', error };
      }
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) {
        const text = await readText(res, 1 << 20).catch(() => '');
        const error = statusError(status, res.headers, text);
        count('watch', error.code);
        return status === 410 ? { reason: 'gone' } : { reason: 'error', error };
      }
      impersonationProblem = undefined;
      count('watch', String(status));
      let end: WatchEnd | undefined;
      try {
        await readLines(res, (line) => {
          if (end) return;
          let event: { type?: string; object?: Record<string, unknown> };
          try {
            event = JSON.parse(line) as typeof event;
          } catch {
            end = { reason: 'error', error: new KubeError('other', 'the watch sent a line that is not JSON') };
            res.destroy();
            return;
          }
          const object = event.object ?? {};
          if (event.type === 'BOOKMARK') handlers.onBookmark(toNodeMeta(object as never).resourceVersion);
          else if (event.type === 'ERROR') {
            const code = typeof object.code === 'number' ? object.code : 0;
            end = code === 410 ? { reason: 'gone' } : { reason: 'error', error: new KubeError(kindForStatus(code), describeStatus(code, JSON.stringify(object)), code || undefined) };
            res.destroy();
          } else if (event.type === 'ADDED' || event.type === 'MODIFIED' || event.type === 'DELETED') handlers.onEvent(event.type as WatchEventType, toNodeMeta(object as never));
        });
      } catch (err) {
        if (end) return end;
        if (opts.signal.aborted) return { reason: 'closed' };
        return { reason: 'error', error: transportError(err, opts.signal) };
      }
      return end ?? { reason: 'closed' };
    },

    async patch(name: string, patch: MetadataPatch, signal?: AbortSignal): Promise<NodeMeta> {
      const node = await call<Record<string, unknown>>({
        verb: 'patch',
        method: 'PATCH',
        path: `/api/v1/nodes/${encodeURIComponent(name)}`,
        query: { fieldManager: options.component },
        body: patch,
        contentType: 'application/merge-patch+json',
        signal,
        redact: [...Object.values(patch.metadata.labels ?? {}), ...Object.values(patch.metadata.annotations ?? {})].filter((v): v is string => typeof v === 'string'),
      });
      return toNodeMeta(node as never);
    },

    async patchStatus(name: string, patch: StatusPatch, signal?: AbortSignal): Promise<NodeMeta> {
      const node = await call<Record<string, unknown>>({
        verb: 'patch',
        method: 'PATCH',
        path: `/api/v1/nodes/${encodeURIComponent(name)}/status`,
        query: { fieldManager: options.component },
        body: patch,
        // Strategic: status.conditions is a list keyed by type, so only the agent's condition changes.
        contentType: 'application/strategic-merge-patch+json',
        signal,
      });
      return toNodeMeta(node as never);
    },

    async event(node: NodeMeta, event: NodeEvent): Promise<void> {
      const now = new Date().toISOString();
      const stamp = `${Date.now().toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`;
      await call({
        verb: 'create',
        method: 'POST',
        path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`,
        body: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: `${node.name}.${stamp}`, namespace },
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
        redact: [event.message],
      });
    },

    health() {
      const problem = credentialProblem ?? impersonationProblem;
      return problem ? { ok: false, reason: problem } : { ok: true };
    },
  };
}

/** The auth provider took longer than allowed. */
class AuthTimeout extends Error {
  constructor(ms: number) {
    super(`no credential within ${Math.round(ms / 1000)}s`);
    this.name = 'AuthTimeout';
  }
}

/** `work`, given up after `ms` or when `signal` aborts. */
function bounded<T>(work: Promise<T>, ms: number, signal: AbortSignal | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => finish(() => reject(new AuthTimeout(ms))), ms);
    const onAbort = () => finish(() => reject(signal!.reason as Error));
    const finish = (f: () => void) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      f();
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => finish(() => resolve(v)),
      (e: unknown) => finish(() => reject(e as Error)),
    );
  });
}

/** Maps a failure below HTTP (refused, reset, DNS, TLS, timeout, abort) to a KubeError. */
function transportError(err: unknown, signal: AbortSignal | undefined): KubeError {
  if (err instanceof KubeError) return err;
  if (signal?.aborted) return new KubeError('aborted', 'request aborted');
  const e = err as NodeJS.ErrnoException;
  if (isNetworkError(err)) return new KubeError('network', `cannot reach the Kubernetes API: ${e.code ?? e.message}${e.code === 'ETIMEDOUT' && e.message ? ` (${e.message})` : ''}`);
  // TLS: an unknown CA, a name mismatch, an expired certificate (Node's own ERR_ codes but for TLS are local mistakes).
  if (typeof e?.code === 'string' && (!e.code.startsWith('ERR_') || /^ERR_(TLS|SSL)_/.test(e.code))) return new KubeError('network', `cannot reach the Kubernetes API: ${e.code}: ${e.message}`);
  return new KubeError('other', e?.message ?? String(err));
}

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** An agent through a kubeconfig proxy-url (HTTP CONNECT for https:// servers), loaded only for such a kubeconfig. */
async function proxyAgentFor(proxyUrl: string, protocol: string): Promise<(o: https.AgentOptions) => http.Agent> {
  const { HttpProxyAgent, HttpsProxyAgent } = await import('hpagent');
  return (o) => (protocol === 'https:' ? new HttpsProxyAgent({ ...o, proxy: proxyUrl }) : new HttpProxyAgent({ ...o, proxy: proxyUrl }));
}
