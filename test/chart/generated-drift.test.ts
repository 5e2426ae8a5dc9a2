import { describeDrift } from '../helpers/drift.ts';

await describeDrift('generated files rendered with helm', (file) => (file.tools ?? []).includes('helm'));
