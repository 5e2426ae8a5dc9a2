import type { GeneratedFile } from '../generated.ts';
import { metricsReference, renderMetricsDoc } from '../observability/metricsReference.ts';

const file: GeneratedFile = {
  path: 'docs/metrics.md',
  render: async () => renderMetricsDoc(await metricsReference()),
};

export default file;
