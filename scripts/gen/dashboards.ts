import type { GeneratedFile } from '../generated.ts';
import { fleetDashboard } from '../observability/dashboards/fleet.ts';

/** Grafana dashboards shipped in the chart (sidecar ConfigMap) and importable as they are. */
const files: GeneratedFile[] = [
  {
    path: 'charts/imds-labeler/files/dashboard-fleet.json',
    render: () => `${JSON.stringify(fleetDashboard(), null, 2)}\n`,
  },
];

export default files;
