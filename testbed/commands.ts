import { PRODUCT_COMMANDS, type CommandTable } from '../src/cli/registry.ts';

/** The stand-ins' subcommands: served by the npm package's CLI, never shipped in the agent image. */
export const TESTBED_COMMANDS: CommandTable = {
  emulator: { summary: 'serve a faithful IMDS emulator with fixtures and fault injection', load: async () => (await import('./imds-emulator/command.ts')).emulatorCommand },
  sandbox: { summary: 'serve an in-memory Kubernetes API for Nodes and Events', load: async () => (await import('./kube-sandbox/command.ts')).sandboxCommand },
  demo: { summary: 'run the agent against the emulator and the sandbox, no cloud needed', load: async () => (await import('./demo.ts')).demoCommand },
};

/** The npm package's CLI (cmd/imds-labeler.ts): the product's commands, then the stand-ins'. */
export const ALL_COMMANDS: CommandTable = { ...PRODUCT_COMMANDS, ...TESTBED_COMMANDS };
