import type { GeneratedFile } from '../generated.ts';
import { VAP_API, helmTemplate } from '../helm.ts';

/**
 * deploy/: the chart rendered with its default values, for `kubectl apply -f deploy/`. Rendered
 * for the chart's floor, Kubernetes 1.30, where the ValidatingAdmissionPolicy API is served.
 * The output is deterministic: the only hash in it, checksum/config, is the rendered ConfigMap's.
 */
export const NAMESPACE = 'imds-labeler';
const RELEASE = 'imds-labeler';
const KUBE_VERSION = '1.30.0';

/** Labels and annotations that describe a Helm release, which these files are not. */
const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by'];
const HELM_ANNOTATIONS = ['helm.sh/hook', 'helm.sh/hook-weight', 'helm.sh/hook-delete-policy'];

const NAMESPACE_MANIFEST = `# The agent's namespace. Pod Security: the pods meet "restricted" except for hostNetwork, which
# they need to reach IMDS where pod access to link-local addresses is blocked; "baseline" and
# "restricted" refuse hostNetwork, hence "privileged" here (see docs/install.md).
apiVersion: v1
kind: Namespace
metadata:
  name: ${NAMESPACE}
  labels:
    app.kubernetes.io/name: imds-labeler
    app.kubernetes.io/part-of: imds-labeler
    pod-security.kubernetes.io/enforce: privileged
`;

/**
 * Drops Helm's release bookkeeping line by line, keeping the chart's formatting and comments.
 * The chart writes each of these as one `key: value` line; the tests check none is left.
 */
function stripHelm(text: string): string {
  const drop = new RegExp(`^\\s+(${[...HELM_LABELS, ...HELM_ANNOTATIONS].map((k) => k.replaceAll('.', '\\.')).join('|')}): .*\\n`, 'gm');
  return text.replace(drop, '').replace(/^(\s+)annotations:\n(?!\1\s)/gm, '');
}

/** Renders the chart and drops Helm's bookkeeping; the documents stay in helm's order. */
function render(header: string, showOnly?: readonly string[]): string {
  const text = helmTemplate({
    release: RELEASE,
    namespace: NAMESPACE,
    kubeVersion: KUBE_VERSION,
    apiVersions: [VAP_API],
    noHooks: showOnly === undefined,
    ...(showOnly ? { showOnly } : {}),
  });
  const docs = stripHelm(text)
    .split(/^---\n/m)
    .filter((doc) => doc.trim() !== '')
    // The chart's warnings for offline renders: deploy/ is rendered with the API and without hooks.
    .filter((doc) => !doc.includes('# Source: imds-labeler/templates/offline-render.yaml'));
  return [header, ...docs].join('---\n');
}

const HEADER = (what: string) =>
  `# ${what}\n# Generated from charts/imds-labeler with its default values by scripts/gen/deploy.ts\n# (npm run generate); do not edit. To change a setting, use the chart or edit the ConfigMap.\n`;

const files: GeneratedFile[] = [
  {
    path: 'deploy/imds-labeler.yaml',
    tools: ['helm'],
    render: () =>
      render(`${HEADER('imds-labeler: kubectl apply -f deploy/')}\n${NAMESPACE_MANIFEST}`),
  },
  {
    path: 'deploy/cleanup/imds-labeler-cleanup.yaml',
    tools: ['helm'],
    render: () =>
      render(
        `${HEADER('imds-labeler cleanup: after deleting the DaemonSet, kubectl apply -f deploy/cleanup/ removes the\n# labels and annotations the agent wrote from every node; see docs/install.md.')}`,
        ['templates/cleanup-hook.yaml'],
      ),
  },
];

export default files;
