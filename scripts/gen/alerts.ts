import type { GeneratedFile } from '../generated.ts';
import { renderAlerts, renderChartAlerts, type AlertOptions } from '../observability/alerts.ts';

/**
 * Prometheus alerting rules. alerts.yaml is the plain rules file (selector job=~".*imds-labeler.*",
 * default thresholds, memory from the chart's resources.limits.memory); to adapt it, set the
 * options here and run `npm run generate`. The chart's PrometheusRule is rendered from
 * alerts.chart.yaml with the values under metrics.prometheusRule instead.
 */
const OPTIONS: AlertOptions = {};

const files: GeneratedFile[] = [
  { path: 'charts/imds-labeler/files/alerts.yaml', render: () => renderAlerts(OPTIONS) },
  { path: 'charts/imds-labeler/files/alerts.chart.yaml', render: renderChartAlerts },
];

export default files;
