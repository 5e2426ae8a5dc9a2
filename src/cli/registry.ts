import type { Command } from './command.ts';

export interface CommandEntry {
  summary: string;
  load: () => Promise<Command>;
}
export type CommandTable = Record<string, CommandEntry>;

/**
 * The product's own subcommands, the ones the container image ships. They load lazily: `render`
 * must not pay for the Kubernetes client. The stand-ins (emulator, sandbox, demo) are added by the
 * full CLI in cmd/imds-labeler.ts from testbed/.
 */
export const PRODUCT_COMMANDS: CommandTable = {
  agent: { summary: 'label this node from IMDS, continuously (the DaemonSet entry point)', load: async () => (await import('./agent.ts')).agentCommand },
  render: { summary: 'print the labels and annotations an IMDS document maps to', load: async () => (await import('./render.ts')).renderCommand },
  cleanup: { summary: 'remove the labels and annotations the agent owns (uninstall)', load: async () => (await import('./cleanup.ts')).cleanupCommand },
};

export function topLevelHelp(commands: CommandTable): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length)) + 2;
  return [
    'imds-labeler: Kubernetes node labels from the Azure Instance Metadata Service',
    '',
    'Usage: imds-labeler <command> [flags]',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`),
    '',
    'Run "imds-labeler <command> --help" for the flags of a command, "imds-labeler --version" for the version.',
    'A command takes only the flags its --help lists; a config file (--config) serves every command.',
    '',
  ].join('\n');
}
