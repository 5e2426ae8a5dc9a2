import type { GeneratedFile } from '../generated.ts';
import { metricsReference, renderMetricsDoc } from '../../src/observability/reference.ts';

const file: GeneratedFile = {
  path: 'docs/metrics.md',
  render: async () => renderMetricsDoc(await metricsReference()),
};

export default file;
