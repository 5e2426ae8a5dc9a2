import type { Command } from './command.ts';

/**
 * Subcommands load lazily: `render` must not pay for the Kubernetes client, and the agent's
 * cold start must not pay for the emulator.
 */
export const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  agent: { summary: 'label this node from IMDS, continuously (the DaemonSet entry point)', load: async () => (await import('./agent.ts')).agentCommand },
  render: { summary: 'print the labels and annotations an IMDS document maps to', load: async () => (await import('./render.ts')).renderCommand },
  emulator: { summary: 'serve a faithful IMDS emulator with fixtures and fault injection', load: async () => (await import('./emulator.ts')).emulatorCommand },
  sandbox: { summary: 'serve an in-memory Kubernetes API for Nodes and Events', load: async () => (await import('./sandbox.ts')).sandboxCommand },
  cleanup: { summary: 'remove the labels and annotations the agent owns (uninstall)', load: async () => (await import('./cleanup.ts')).cleanupCommand },
  demo: { summary: 'run the agent against the emulator and the sandbox, no cloud needed', load: async () => (await import('./demo.ts')).demoCommand },
};

export function topLevelHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 2;
  return [
    'imds-labeler: Kubernetes node labels from the Azure Instance Metadata Service',
    '',
    'Usage: imds-labeler <command> [flags]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`),
    '',
    'Run "imds-labeler <command> --help" for the flags of a command.',
    '',
  ].join('\n');
}
