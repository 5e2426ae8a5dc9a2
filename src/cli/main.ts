import { closestFlag } from '../config/options.ts';
import { REVISION, VERSION } from '../version.ts';
import { StartupError, isUserError, wantsUsage, type Command } from './command.ts';
import { topLevelHelp, type CommandTable } from './registry.ts';

/**
 * Signals that stop a command cleanly. SIGHUP is one of them, not a reload: configuration is
 * read once at start (a pod restarts to change it), and Node's default for SIGHUP is to die at
 * once, without the shutdown that lets a patch in flight finish.
 */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/** `imds-labeler --version`: the version, the revision it was built from and the runtime. */
export const versionText = () => `imds-labeler ${VERSION} (revision ${REVISION}, Node.js ${process.versions.node})\n`;

/** argv → subcommand, STOP_SIGNALS → AbortSignal, errors → exit codes. Shared by every entry point in cmd/. */
export async function runCli(commands: CommandTable, args: string[]): Promise<void> {
  const [name, ...argv] = args;
  const controller = new AbortController();
  for (const signal of STOP_SIGNALS) process.once(signal, () => controller.abort(new Error(signal)));

  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topLevelHelp(commands));
    process.exitCode = name === undefined ? 2 : 0;
    return;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    process.stdout.write(versionText());
    process.exitCode = 0;
    return;
  }
  const entry = commands[name];
  if (!entry) {
    const near = closestFlag(name, Object.keys(commands));
    process.stderr.write(`imds-labeler: unknown command "${name}"${near ? `; did you mean "${near}"?` : ''}\n\n${topLevelHelp(commands)}`);
    process.exitCode = 2;
    return;
  }
  let command: Command | undefined;
  try {
    command = await entry.load();
    // Streams on first use: process.stdin alone loads Node's file streams and readline (the agent
    // never reads it, and its stdin is /dev/null in a pod).
    const io = {
      get stdout() {
        return process.stdout;
      },
      get stderr() {
        return process.stderr;
      },
      get stdin() {
        return process.stdin;
      },
      env: process.env,
      signal: controller.signal,
    };
    process.exitCode = await command.run(argv, io);
  } catch (err) {
    if (isUserError(err)) {
      process.stderr.write(`imds-labeler ${name}: ${err.message}\n`);
      if (command && wantsUsage(err)) process.stderr.write(`\n${command.usage}`);
      process.exitCode = 2;
    } else if (err instanceof StartupError) {
      process.stderr.write(`imds-labeler ${name}: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`imds-labeler ${name}: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  }
}
