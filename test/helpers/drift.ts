import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, generatedFiles, type GeneratedFile } from '../../scripts/generated.ts';

/**
 * The drift check of generated files, split by tier: test/unit checks the files rendered in
 * process, test/chart the ones rendered with helm.
 */
export async function describeDrift(title: string, which: (file: GeneratedFile) => boolean): Promise<void> {
  const files = (await generatedFiles()).filter(which);
  describe(title, () => {
    it('has generators to check', () => {
      expect(files.length).toBeGreaterThan(0);
    });
    it.each(files.map((f) => [f.path, f] as const))('%s matches its generator (run npm run generate)', async (path, file) => {
      const checkedIn = readFileSync(join(ROOT, path), 'utf8');
      expect(checkedIn).toBe(await file.render());
    });
  });
}
