import { setFlagsFromString } from 'node:v8';
import * as z from 'zod';
import { ConfigError, loadConfig } from '../config/load.ts';
import { createLogger } from '../observability/logger.ts';
import { createMetrics } from '../observability/metrics.ts';
import { VERSION } from '../version.ts';
import { nodeClientFor } from './nodeClient.ts';
import type { Command } from './command.ts';
import { envHelp, sharedFlagsHelp } from './usage.ts';

export const agentCommand: Command = {
  name: 'agent',
  summary: 'label this node from IMDS, continuously',
  usage: `Usage: imds-labeler agent [flags]

Polls IMDS, maps the instance metadata to labels and annotations, and keeps this node's
labels in step. Serves /metrics, /healthz and /readyz. Stops cleanly on SIGTERM.

Flags:
${sharedFlagsHelp()}

Environment (each flag also reads IMDS_LABELER_<FLAG>):
${envHelp()}
`,
  async run(argv, io) {
    lowFootprintRuntime();
    const { config, help } = await loadConfig({ argv, env: io.env });
    if (help) {
      io.stdout.write(this.usage);
      return 0;
    }
    const nodeName = config.kube.nodeName;
    if (!nodeName) throw new ConfigError('kube.nodeName: no node name; pass --node-name or set NODE_NAME (the chart sets it from the downward API)', 'kube.nodeName');

    const logger = createLogger({ level: config.log.level, format: config.log.format });
    const metrics = createMetrics({ version: VERSION, processMetrics: true });
    // Loaded here, not at the top: the Kubernetes client is the heaviest import of the agent.
    const [nodeClient, { createImds }, { runAgent }] = await Promise.all([
      nodeClientFor(config.kube.kubeconfig, { component: 'imds-labeler', metrics }),
      import('../imds/index.ts'),
      import('../agent.ts'),
    ]);
    const imds = createImds(config.imds, { metrics, logger });
    await runAgent({ config, nodeName, nodeClient, fetchInstance: imds.fetchInstance, logger, metrics, signal: io.signal });
    return 0;
  },
};

/**
 * The agent is idle between polls and does the same small amount of work each time, so it trades
 * a little CPU for memory (docs/performance.md has the numbers). The image runs it with
 * --jitless (NODE_OPTIONS); for any other way of running it:
 * - V8 keeps its interpreter and baseline compiler but not its optimizing compilers (Maglev,
 *   TurboFan), which would take 10+ MiB in a long run for code that runs once a minute, and
 *   sizes its heap for memory rather than speed. These flags are not accepted in NODE_OPTIONS.
 * - zod validates without generating code (new Function), which it would otherwise compile and
 *   keep for each object schema.
 */
function lowFootprintRuntime(): void {
  for (const flag of ['--no-opt', '--no-maglev', '--optimize-for-size']) setFlagsFromString(flag);
  z.config({ jitless: true });
}
