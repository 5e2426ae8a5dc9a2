import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/agentProcess.ts';

const eslint = new ESLint({ cwd: ROOT });
const fenceErrors = async (filePath: string, code: string) => {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === 'no-restricted-syntax');
};

describe('the import fence', () => {
  it.each([
    ['src/kube/probe.ts', "import { startSandbox } from '../../testbed/kube-sandbox/server.ts';\nexport { startSandbox };\n"],
    ['src/kube/probe.ts', "export const load = () => import('../../testbed/imds-emulator/server.ts');\n"],
    ['src/cli/probe.ts', "import { buildBundle } from '../../scripts/build.ts';\nexport { buildBundle };\n"],
    ['src/mapping/probe.ts', "import { waitFor } from '../../test/helpers/wait.ts';\nexport { waitFor };\n"],
    ['testbed/kube-sandbox/probe.ts', "import { waitFor } from '../../test/helpers/wait.ts';\nexport { waitFor };\n"],
    ['testbed/probe.ts', "export const load = () => import('../scripts/build.ts');\n"],
    ['test/cluster/probe.ts', "import { startFleet } from '../bench/lib/ladder.ts';\nexport { startFleet };\n"],
    ['test/helpers/probe.ts', "export const load = () => import('../bench/bench.ts');\n"],
  ])('rejects %s importing across the fence', async (file, code) => {
    expect(await fenceErrors(file, code)).toHaveLength(1);
  });

  it.each([
    ['src/kube/probe.ts', "import { render } from '../mapping/render.ts';\nexport { render };\n"],
    ['testbed/kube-sandbox/probe.ts', "import { systemClock } from '../../src/clock.ts';\nexport { systemClock };\n"],
    ['test/unit/probe.ts', "import { startSandbox } from '../../testbed/kube-sandbox/server.ts';\nexport { startSandbox };\n"],
    ['test/bench/probe.ts', "import { startFleet } from '../fleet/agents.ts';\nexport { startFleet };\n"],
  ])('allows %s importing inward', async (file, code) => {
    expect(await fenceErrors(file, code)).toEqual([]);
  });
});
