import type { GeneratedFile } from '../generated.ts';
import { renderAlerts, type AlertOptions } from '../observability/alerts.ts';

/**
 * Prometheus alerting rules shipped in the chart (wrapped in a PrometheusRule). To adapt them,
 * set the options here and run `npm run generate`: `selector` (label matchers of the agent's
 * series, default job=~".*imds-labeler.*"), `thresholds`, `for` per alert, `runbookBase`.
 */
const OPTIONS: AlertOptions = {};

const file: GeneratedFile = {
  path: 'charts/imds-labeler/files/alerts.yaml',
  render: () => renderAlerts(OPTIONS),
};

export default file;
