import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, generatedFiles } from '../../scripts/generated.ts';

const files = await generatedFiles();

describe('generated files', () => {
  it('has generators to check', () => {
    expect(files.length).toBeGreaterThan(0);
  });
  it.each(files.map((f) => [f.path, f] as const))('%s matches its generator (run npm run generate)', async (path, file) => {
    const checkedIn = readFileSync(join(ROOT, path), 'utf8');
    expect(checkedIn).toBe(await file.render());
  });
});
