// The container image's entry point (bundled to dist/imds-labeler.mjs): the product's commands only.
import { runCli } from '../src/cli/main.ts';
import { PRODUCT_COMMANDS } from '../src/cli/registry.ts';

await runCli(PRODUCT_COMMANDS, process.argv.slice(2));
