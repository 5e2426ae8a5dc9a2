import { ConfigError } from '../config/load.ts';
import type { ClientNodeOptions } from '../kube/clientNode.ts';
import type { NodeClient } from '../kube/nodeClient.ts';

export interface KubeConnection {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  credentialTimeout: number;
}

/**
 * A command's Kubernetes client, from kubeconfig files or the in-cluster configuration, found as
 * kubectl finds them (src/kube/kubeconfig.ts). A configuration that cannot work is a ConfigError
 * (exit 2) that says what to do. client-node's KubeConfig loads here, on use.
 */
export async function nodeClientFor(kube: KubeConnection, options: ClientNodeOptions & { env: NodeJS.ProcessEnv; signal?: AbortSignal }): Promise<NodeClient> {
  const { createClientNodeNodeClient, loadKubeConfig, KubeConfigError } = await import('../kube/clientNode.ts');
  let loaded;
  try {
    loaded = await loadKubeConfig({ kubeconfig: kube.kubeconfig, context: kube.context, env: options.env, credentialTimeoutMs: kube.credentialTimeout, ...(options.signal ? { signal: options.signal } : {}) });
  } catch (err) {
    if (err instanceof KubeConfigError) throw new ConfigError(`${err.field}: ${err.message}`, err.field);
    throw err;
  }
  return createClientNodeNodeClient({ ...options, credentialTimeoutMs: kube.credentialTimeout }, loaded);
}
