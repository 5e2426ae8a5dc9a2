import { describeDrift } from '../helpers/drift.ts';

await describeDrift('generated files rendered without external tools', (file) => (file.tools ?? []).length === 0);
