/**
 * The user a node's kubelet is, and the one the agent acts as with kube.identity node: the Node
 * authorizer and NodeRestriction recognise a node by this name (and the group system:nodes, which
 * the API server sets itself when a service account impersonates its associated node).
 */
export const nodeUser = (nodeName: string): string => `system:node:${nodeName}`;
