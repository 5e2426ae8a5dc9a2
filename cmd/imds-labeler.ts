#!/usr/bin/env node
// The npm package's CLI: the product's commands and the stand-ins (emulator, sandbox, demo).
import { runCli } from '../src/cli/main.ts';
import { ALL_COMMANDS } from '../testbed/commands.ts';

await runCli(ALL_COMMANDS, process.argv.slice(2));
