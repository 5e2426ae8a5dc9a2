import { setFlagsFromString } from 'node:v8';
import * as z from 'zod';
import { loadConfig } from '../config/load.ts';
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
    // Loaded here, not at the top: the agent's dependencies include the Kubernetes client, the
    // heaviest import of the agent, and other subcommands need none of it.
    const [{ buildAgentDependencies }, { runAgent }] = await Promise.all([import('../agent/dependencies.ts'), import('../agent/run.ts')]);
    await runAgent({ config, ...(await buildAgentDependencies(config)), signal: io.signal });
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
