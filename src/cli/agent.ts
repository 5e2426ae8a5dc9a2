import { setFlagsFromString } from 'node:v8';
import { ConfigError, loadConfig } from '../config/load.ts';
import { ListenError } from '../observability/server.ts';
import { StartupError, type Command } from './command.ts';
import { envHelp, sharedFlagsHelp } from './usage.ts';

export const agentCommand: Command = {
  name: 'agent',
  summary: 'label this node from IMDS, continuously',
  usage: `Usage: imds-labeler agent [flags]

Polls IMDS, maps the instance metadata to labels and annotations, and keeps this node's
labels in step. Serves /metrics, /healthz and /readyz. Stops cleanly on SIGTERM, SIGINT
and SIGHUP (SIGHUP does not reload: the configuration is read at start).

Flags:
${sharedFlagsHelp('agent')}

Environment (each flag also reads IMDS_LABELER_<FLAG>):
${envHelp('agent')}
`,
  async run(argv, io) {
    lowFootprintRuntime();
    const { config, help } = await loadConfig({ argv, env: io.env }, { command: 'agent' });
    if (help) {
      io.stdout.write(this.usage);
      return 0;
    }
    // Loaded here, not at the top: the agent's dependencies include the Kubernetes client, the
    // heaviest import of the agent, and other subcommands need none of it.
    const [{ buildAgentDependencies }, { runAgent }] = await Promise.all([import('../agent/dependencies.ts'), import('../agent/run.ts')]);
    try {
      await runAgent({ config, ...(await buildAgentDependencies(config, { env: io.env, signal: io.signal })), signal: io.signal });
    } catch (err) {
      throw err instanceof ListenError ? listenFailure(err) : err;
    }
    return 0;
  },
};

/**
 * A bind failure, named by the setting to change: an address that is not this host's or a port
 * that needs privileges is a configuration error (exit 2); a port another process holds is not
 * (exit 1: the kubelet's restart may find it free).
 */
function listenFailure(err: ListenError): Error {
  const where = `${err.address}:${err.port}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return new StartupError(`server.port (--port): ${where} is already in use by another process (EADDRINUSE)`, 1, { cause: err });
    case 'EACCES':
      return new ConfigError(`server.port (--port): listening on ${where} is not permitted (EACCES): use a port above 1023`, 'server.port');
    case 'EADDRNOTAVAIL':
    case 'EAFNOSUPPORT':
    case 'EINVAL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConfigError(`server.address (--address): cannot listen on ${where}: not an address of this host (${err.code})`, 'server.address');
    default:
      return new StartupError(`server.address/server.port: cannot listen on ${where} (${err.code})`, 1, { cause: err });
  }
}

/**
 * The agent is idle between polls and does the same small amount of work each time, so it trades
 * a little CPU for memory (docs/performance.md has the numbers). The image runs it with
 * --jitless (NODE_OPTIONS), which has no optimizing compilers to turn off; for any other way of
 * running it, V8 keeps its interpreter and baseline compiler but not its optimizing compilers
 * (Maglev, TurboFan), which would take 10+ MiB in a long run for code that runs once a minute,
 * and sizes its heap for memory rather than speed. These flags are not accepted in NODE_OPTIONS.
 * Under --jitless nothing is set: a flag changed at run time changes the flag hash V8 checks a
 * code cache against, and the image's compile cache (made without them) would be refused for
 * every module loaded after this point.
 * zod's own setting (no generated code) is in src/config/schema.ts: a schema reads it when built.
 */
function lowFootprintRuntime(): void {
  // The process's own flags, not the injected environment: they are what V8 started with.
  const nodeFlags = [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)];
  if (nodeFlags.includes('--jitless')) return;
  for (const flag of ['--no-opt', '--no-maglev', '--optimize-for-size']) setFlagsFromString(flag);
}
