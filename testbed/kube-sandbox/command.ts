import { UsageError, type Command, type CommandIO } from '../../src/cli/command.ts';
import { hostFlag, listenError, parseFlags, untilAborted, wholeNumberFlag } from '../../src/cli/flags.ts';
import { FaultPlanError, readSandboxFaultsFile } from './faults.ts';
import { startSandbox } from './server.ts';
import { validateDnsSubdomain } from '../../src/keys/names.ts';

const usage = `Usage: imds-labeler sandbox [flags]

Serves an in-memory Kubernetes API for Nodes and Events over HTTP, close enough to kube-apiserver
that kubectl and the agent cannot tell the difference: discovery, get/list/watch with selectors and
resourceVersions, create/update/patch (JSON, merge and strategic merge)/delete, optimistic
concurrency, label validation, server-side tables for kubectl, and injected faults. Prints the URL,
then serves until SIGINT/SIGTERM. Nothing is persisted.

Flags:
  --port PORT            port to listen on (default 0: a free port, printed at start)
  --host HOST            address to listen on (default 127.0.0.1)
  --nodes N1,N2          nodes to create at start, as a kubelet registers them
  --faults FILE          fault plan, YAML or JSON (see docs/sandbox.md)
  --kubeconfig-out FILE  write a kubeconfig for the sandbox (context "sandbox") to FILE
  -h, --help             this help

Test-only control endpoints:
  GET /_sandbox/counters   POST /_sandbox/counters/reset   GET|POST /_sandbox/faults

Example:
  imds-labeler sandbox --nodes node-0,node-1 --kubeconfig-out /tmp/sandbox.kubeconfig &
  kubectl --kubeconfig /tmp/sandbox.kubeconfig get nodes
`;

export const sandboxCommand: Command = {
  name: 'sandbox',
  summary: 'serve an in-memory Kubernetes API for Nodes and Events',
  usage,
  async run(argv: string[], io: CommandIO): Promise<number> {
    const values = parseFlags(argv, {
      port: { type: 'string' },
      host: { type: 'string' },
      nodes: { type: 'string', multiple: true },
      faults: { type: 'string' },
      'kubeconfig-out': { type: 'string' },
    });
    if (values.help) {
      io.stdout.write(usage);
      return 0;
    }
    const port = wholeNumberFlag('--port', values.port, 0, 65535);
    const host = hostFlag(values.host);
    const nodes = (values.nodes ?? []).flatMap((v) => v.split(',')).map((n) => n.trim()).filter(Boolean);
    for (const n of nodes) {
      const errs = validateDnsSubdomain(n);
      if (errs.length) throw new UsageError(`--nodes: "${n}" is not a valid node name: ${errs[0]}`);
    }
    if (new Set(nodes).size !== nodes.length) throw new UsageError('--nodes: a node name is listed twice');
    let faults;
    if (values.faults !== undefined) {
      try {
        faults = readSandboxFaultsFile(values.faults);
      } catch (err) {
        if (err instanceof FaultPlanError) throw new UsageError(`--faults: ${err.message}`);
        throw err;
      }
    }

    let sandbox;
    try {
      sandbox = await startSandbox({ port, host, nodes, ...(faults ? { faults } : {}) });
    } catch (err) {
      listenError(err, host, port);
    }
    try {
      if (values['kubeconfig-out'] !== undefined) {
        try {
          sandbox.writeKubeconfig(values['kubeconfig-out']);
        } catch (err) {
          throw new UsageError(`--kubeconfig-out: cannot write ${values['kubeconfig-out']}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
      }
      io.stdout.write(
        `Kubernetes sandbox listening on ${sandbox.url} (${nodes.length} node${nodes.length === 1 ? '' : 's'}${values.faults ? `, faults ${values.faults}` : ''}${
          values['kubeconfig-out'] ? `, kubeconfig ${values['kubeconfig-out']}` : ''
        })\n`,
      );
      await untilAborted(io.signal);
    } finally {
      await sandbox.close();
    }
    return 0;
  },
};
