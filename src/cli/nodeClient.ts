import { ConfigError } from '../config/load.ts';
import type { ClientNodeOptions } from '../kube/clientNode.ts';
import type { NodeClient } from '../kube/nodeClient.ts';

/**
 * A command's Kubernetes client, from a kubeconfig file or the in-cluster configuration.
 * client-node loads here, on use: it is the heaviest import of the agent.
 */
export async function nodeClientFor(kubeconfig: string | undefined, options: ClientNodeOptions): Promise<NodeClient> {
  const { createClientNodeNodeClient, loadKubeConfig } = await import('../kube/clientNode.ts');
  try {
    // Building the client reads the config too ("No active cluster!" when current-context names
    // nothing): both are configuration errors, one line each.
    return createClientNodeNodeClient(options, await loadKubeConfig(kubeconfig));
  } catch (err) {
    // First line only: a YAML parser quotes the offending lines after it, and a kubeconfig's
    // offending line can be its token.
    const reason = String((err as Error).message).split('\n')[0];
    throw new ConfigError(`cannot load Kubernetes client configuration${kubeconfig ? ` from ${kubeconfig}` : ' (in-cluster)'}: ${reason}`, 'kube.kubeconfig');
  }
}
