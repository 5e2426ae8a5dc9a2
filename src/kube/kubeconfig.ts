// Deep imports, not the package index: the index re-exports every API group, informers, exec,
// port-forward and more, and the bundle would carry all of it (see docs/performance.md).
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { newClusters, newContexts, newUsers, type Cluster, type Context, type User } from '@kubernetes/client-node/dist/config_types.js';
import { parseJsonOrYaml } from '../config/text.ts';
import { ExecCredentials, type ExecConfig } from './execCredential.ts';

/** The Kubernetes connection could not be configured: exit 2 with what to do. */
export class KubeConfigError extends Error {
  readonly kind = 'config';
  readonly field: string;
  constructor(message: string, field = 'kube.kubeconfig') {
    super(message);
    this.name = 'KubeConfigError';
    this.field = field;
  }
}

export interface KubeConfigSource {
  /** --kubeconfig / KUBECONFIG: one file, or a list separated by ':' (';' on Windows), merged as kubectl merges them. */
  kubeconfig?: string | undefined;
  /** --context: instead of the current-context. */
  context?: string | undefined;
  /** Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** How long an exec credential plugin may take; default 30 s. */
  credentialTimeoutMs?: number;
  /** Kills a running credential plugin when it aborts (shutdown). */
  signal?: AbortSignal;
}

export interface LoadedKubeConfig {
  kc: KubeConfig;
  /** Where the configuration came from, for the start-up log line: file paths or "in-cluster". */
  from: string;
  /** The API server's base URL. */
  server: string;
  /** The cluster's proxy-url, kept from client-node (which would build its own agent for it). */
  proxyUrl: string | undefined;
  /** Exec credential plugins of the kubeconfig's users, with a timeout. */
  exec: ExecCredentials;
}

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The Kubernetes client configuration, found as kubectl finds it: `--kubeconfig` (or
 * `KUBECONFIG`, a list of files merged: the first file to define a cluster, user or context, and
 * the first to set current-context, wins; files that do not exist are skipped), then
 * `~/.kube/config`, then the pod's service account (KUBERNETES_SERVICE_HOST and the token and CA
 * files). Nothing found is an error that says what to do, not a client for "https://undefined".
 *
 * Differences from client-node's loaders, each what kubectl does: duplicates across files are
 * not an error; `tokenFile` (client-go's spelling) is re-read as the token rotates; a plain
 * `http://` server is accepted without insecure-skip-tls-verify (there is no TLS to skip).
 */
export async function loadKubeConfig(source: KubeConfigSource): Promise<LoadedKubeConfig> {
  const env = source.env ?? process.env;
  const home = env.HOME ?? env.USERPROFILE;
  const defaultFile = home ? join(home, '.kube', 'config') : undefined;
  let files: string[] | undefined;
  if (source.kubeconfig) {
    const list = source.kubeconfig.split(delimiter).filter(Boolean);
    files = list.filter((f) => existsSync(f));
    if (list.length === 1 && files.length === 0) throw new KubeConfigError(`kubeconfig ${list[0]} does not exist; pass the path of a kubeconfig file, or leave --kubeconfig and KUBECONFIG unset in a pod`);
    if (files.length === 0) throw new KubeConfigError(`none of the kubeconfig files in ${JSON.stringify(source.kubeconfig)} exists`);
  } else if (defaultFile && existsSync(defaultFile)) {
    files = [defaultFile];
  }

  const kc = new KubeConfig();
  let from: string;
  let tokenFiles = new Map<string, string>();
  if (files) {
    const merged = await mergeFiles(files);
    tokenFiles = merged.tokenFiles;
    kc.loadFromOptions({ clusters: merged.clusters, users: merged.users, contexts: merged.contexts, currentContext: merged.currentContext });
    from = files.join(delimiter);
  } else {
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT;
    if (!host || !port) {
      throw new KubeConfigError(
        'no Kubernetes configuration: not in a pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset), no --kubeconfig, KUBECONFIG unset, and no ~/.kube/config. ' +
          'Run in the cluster (the Helm chart), or pass --kubeconfig FILE (or set KUBECONFIG) to run outside it',
      );
    }
    for (const file of ['token', 'ca.crt']) {
      if (!existsSync(join(SERVICE_ACCOUNT, file))) {
        throw new KubeConfigError(`in a pod, but ${join(SERVICE_ACCOUNT, file)} does not exist: the service account token is not mounted (automountServiceAccountToken: false?)`);
      }
    }
    // Withheld from KubeConfig.loadFromCluster, which would read them from the real process.
    const saved = [process.env.KUBERNETES_SERVICE_HOST, process.env.KUBERNETES_SERVICE_PORT];
    process.env.KUBERNETES_SERVICE_HOST = host;
    process.env.KUBERNETES_SERVICE_PORT = port;
    try {
      kc.loadFromCluster();
    } finally {
      restoreEnv('KUBERNETES_SERVICE_HOST', saved[0]);
      restoreEnv('KUBERNETES_SERVICE_PORT', saved[1]);
    }
    from = 'in-cluster';
  }

  if (source.context !== undefined) {
    if (!kc.getContextObject(source.context)) throw new KubeConfigError(`context ${JSON.stringify(source.context)} is not in ${from}; contexts: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'}`, 'kube.context');
    kc.setCurrentContext(source.context);
  }
  const context = kc.currentContext ? kc.getContextObject(kc.currentContext) : null;
  if (!context) throw new KubeConfigError(kc.currentContext ? `current-context ${JSON.stringify(kc.currentContext)} is not defined in ${from}` : `${from} sets no current-context; pass --context NAME`, kc.currentContext ? 'kube.kubeconfig' : 'kube.context');
  const cluster = kc.getCluster(context.cluster);
  if (!cluster) throw new KubeConfigError(`context ${JSON.stringify(context.name)} names cluster ${JSON.stringify(context.cluster)}, which is not defined in ${from}`);
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    throw new KubeConfigError(`cluster ${JSON.stringify(cluster.name)} has a server that is not a URL: ${JSON.stringify(cluster.server)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new KubeConfigError(`cluster ${JSON.stringify(cluster.name)}: server ${cluster.server} is neither https:// nor http://`);
  if (context.user && !kc.getUser(context.user)) throw new KubeConfigError(`context ${JSON.stringify(context.name)} names user ${JSON.stringify(context.user)}, which is not defined in ${from}`);

  // client-node refuses http:// unless insecure-skip-tls-verify is set, and builds its own
  // agents for proxies: give it the cluster without either concern; the transport handles them.
  const proxyUrl = cluster.proxyUrl;
  if (proxyUrl && !/^https?:\/\//i.test(proxyUrl)) {
    throw new KubeConfigError(`cluster ${JSON.stringify(cluster.name)}: proxy-url ${proxyUrl.split(":")[0]}:// is not supported; use an HTTP(S) proxy (HTTP CONNECT)`);
  }
  const plain: Cluster = { ...cluster, proxyUrl: undefined, skipTLSVerify: url.protocol === 'http:' ? true : cluster.skipTLSVerify } as Cluster;
  kc.clusters = kc.clusters.map((c) => (c === cluster ? plain : c));

  const exec = new ExecCredentials({ timeoutMs: source.credentialTimeoutMs ?? 30_000, env, ...(source.signal ? { signal: source.signal } : {}) });
  kc.users = kc.users.map((u) => {
    let user: User = u;
    if (u.exec) {
      exec.register(u.name, u.exec as ExecConfig);
      user = { ...user, exec: undefined } as User;
    }
    const tokenFile = tokenFiles.get(u.name);
    if (tokenFile && !u.token && !u.authProvider && !u.exec) user = { ...user, authProvider: { name: 'tokenFile', config: { tokenFile } } } as User;
    return user;
  });
  if (exec.size > 0) kc.addAuthenticator(exec);
  return { kc, from, server: cluster.server.replace(/\/+$/, ''), proxyUrl, exec };
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

interface Merged {
  clusters: Cluster[];
  users: User[];
  contexts: Context[];
  currentContext: string | undefined;
  /** tokenFile by user name, absolute. */
  tokenFiles: Map<string, string>;
}

async function mergeFiles(files: string[]): Promise<Merged> {
  const merged: Merged = { clusters: [], users: [], contexts: [], currentContext: undefined, tokenFiles: new Map() };
  for (const file of files) {
    let parsed: unknown;
    try {
      parsed = await parseJsonOrYaml(readFileSync(file, 'utf8'));
    } catch (err) {
      // First line only: a YAML parser quotes the offending lines after it, and a kubeconfig's
      // offending line can be its token.
      throw new KubeConfigError(`cannot read kubeconfig ${file}: ${String((err as Error).message).split('\n')[0]}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new KubeConfigError(`kubeconfig ${file} is not a kubeconfig: no mapping at the top level`);
    const doc = parsed as Record<string, unknown>;
    const one = new KubeConfig();
    try {
      // Without token-file: client-node would read it once, relative to the working directory.
      const users = Array.isArray(doc.users) ? (doc.users as { name?: string; user?: Record<string, unknown> }[]) : [];
      const dir = dirname(file);
      for (const u of users) {
        const path = u?.user?.tokenFile ?? u?.user?.['token-file'];
        if (typeof path === 'string' && typeof u.name === 'string' && !merged.tokenFiles.has(u.name) && !merged.users.some((x) => x.name === u.name)) {
          merged.tokenFiles.set(u.name, isAbsolute(path) ? path : join(dir, path));
        }
      }
      const stripped = users.map((u) => (u?.user ? { ...u, user: Object.fromEntries(Object.entries(u.user).filter(([k]) => k !== 'token-file' && k !== 'tokenFile')) } : u));
      one.loadFromOptions({ clusters: newClusters(doc.clusters), contexts: newContexts(doc.contexts), users: newUsers(stripped), currentContext: doc['current-context'] });
      one.makePathsAbsolute(dir);
    } catch (err) {
      throw new KubeConfigError(`kubeconfig ${file}: ${String((err as Error).message).split('\n')[0]}`);
    }
    const add = <T extends { name: string }>(into: T[], items: T[]) => {
      for (const item of items) if (!into.some((x) => x.name === item.name)) into.push(item);
    };
    add(merged.clusters, one.clusters);
    add(merged.users, one.users);
    add(merged.contexts, one.contexts);
    if (!merged.currentContext && one.currentContext) merged.currentContext = one.currentContext;
  }
  return merged;
}
