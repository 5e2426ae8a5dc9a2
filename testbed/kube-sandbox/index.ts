/** The kube sandbox's public surface. */
export { startSandbox, type Sandbox, type SandboxOptions } from './server.ts';
export { FaultPlanError, parseSandboxFaults, readSandboxFaultsFile, type SandboxFault, type SandboxFaults } from './faults.ts';
export type { CounterSnapshot } from './counters.ts';
export type { SandboxNode } from './types.ts';
