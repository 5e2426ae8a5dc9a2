import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { METRIC_PREFIX } from '../../../src/observability/metrics.ts';

/**
 * Building blocks of the dashboards, following the monitoring-mixin conventions: a `datasource`
 * variable every query goes through, `cluster`/`job`/`node` variables whose "All" is a regex,
 * `$__rate_interval` in every rate, a unit and a description on every panel.
 */

export const DATASOURCE: common.DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

/** Label matchers every panel query carries. */
export const SEL = 'cluster=~"$cluster", job=~"$job", node=~"$node"';

/** Rate range of time series panels. */
export const RATE = '$__rate_interval';

const BUILD_INFO = `${METRIC_PREFIX}build_info`;

export function variables(): cog.Builder<dashboard.VariableModel>[] {
  const query = (name: string, label: string, q: string, description: string) =>
    new dashboard.QueryVariableBuilder(name)
      .label(label)
      .description(description)
      .datasource(DATASOURCE)
      .query(q)
      .definition(q)
      .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
      .sort(dashboard.VariableSort.AlphabeticalAsc)
      .multi(true)
      .includeAll(true);
  return [
    new dashboard.DatasourceVariableBuilder('datasource').label('Data source').type('prometheus').description('Prometheus that scrapes the agents.'),
    query('cluster', 'Cluster', `label_values(${BUILD_INFO}, cluster)`, 'The `cluster` label of the series (an external or target label); empty with a single cluster.').allValue('.*'),
    // No allValue: "All" becomes the list of agent jobs, so `up{job=~"$job"}` stays on agent targets.
    query('job', 'Job', `label_values(${BUILD_INFO}{cluster=~"$cluster"}, job)`, 'Scrape jobs of the agent.'),
    query(
      'node',
      'Node',
      `label_values(${BUILD_INFO}{cluster=~"$cluster", job=~"$job"}, node)`,
      'Node of the agent pod: the `node` target label from relabeling `__meta_kubernetes_pod_node_name` in the PodMonitor.',
    ).allValue('.*'),
  ];
}

export interface Target {
  expr: string;
  legend?: string;
  /** Instant query in table format (table panels). */
  table?: boolean;
}

export function targets(list: Target[]): cog.Builder<cog.Dataquery>[] {
  return list.map((t, i) => {
    const q = new prometheus.DataqueryBuilder()
      .datasource(DATASOURCE)
      .refId(String.fromCharCode(65 + i))
      .expr(t.expr)
      .editorMode(prometheus.QueryEditorMode.Code);
    if (t.table) q.instant().format(prometheus.PromQueryFormat.Table).legendFormat('__auto');
    else q.range().legendFormat(t.legend ?? '__auto');
    return q;
  });
}

interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  targets: Target[];
  /** Grid width (24 is the full row) and height. */
  w: number;
  h: number;
}

/** What every panel builder of the SDK has. */
interface PanelLike<T> {
  title(title: string): T;
  description(description: string): T;
  unit(unit: string): T;
  datasource(datasource: common.DataSourceRef): T;
  targets(targets: cog.Builder<cog.Dataquery>[]): T;
  span(w: number): T;
  height(h: number): T;
}

function apply<T extends PanelLike<T>>(panel: T, spec: PanelSpec): T {
  return panel
    .title(spec.title)
    .description(spec.description)
    .unit(spec.unit)
    .datasource(DATASOURCE)
    .targets(targets(spec.targets))
    .span(spec.w)
    .height(spec.h);
}

const thresholds = (steps: dashboard.Threshold[]) =>
  new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps(steps);

export interface TimeseriesSpec extends PanelSpec {
  /** Draws a dashed red line at the alert threshold. */
  threshold?: number;
  stack?: boolean;
  axisLabel?: string;
  min?: number;
}

export function timeseriesPanel(spec: TimeseriesSpec): timeseries.PanelBuilder {
  const p = apply(new timeseries.PanelBuilder(), spec)
    .legend(new common.VizLegendOptionsBuilder().showLegend(true).displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom))
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending))
    .lineWidth(1)
    .fillOpacity(10)
    .showPoints(common.VisibilityMode.Never)
    .spanNulls(false)
    .min(spec.min ?? 0);
  if (spec.axisLabel) p.axisLabel(spec.axisLabel);
  if (spec.stack) p.stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
  if (spec.threshold !== undefined) {
    p.thresholds(thresholds([{ value: null, color: 'green' }, { value: spec.threshold, color: 'red' }])).thresholdsStyle(
      new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed),
    );
  }
  return p;
}

export interface StatSpec extends PanelSpec {
  /** Value from which the stat turns red (and orange below it when `warn` is set). */
  red?: number;
  warn?: number;
  textMode?: common.BigValueTextMode;
}

export function statPanel(spec: StatSpec): stat.PanelBuilder {
  const steps: dashboard.Threshold[] = [{ value: null, color: 'green' }];
  if (spec.warn !== undefined) steps.push({ value: spec.warn, color: 'orange' });
  if (spec.red !== undefined) steps.push({ value: spec.red, color: 'red' });
  return apply(new stat.PanelBuilder(), spec)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .colorMode(spec.red === undefined ? common.BigValueColorMode.None : common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.Area)
    .textMode(spec.textMode ?? common.BigValueTextMode.Auto)
    .thresholds(thresholds(steps));
}

export interface Column {
  name: string;
  unit: string;
  expr: string;
}

export interface TableSpec extends Omit<PanelSpec, 'targets'> {
  columns: Column[];
  /** Label columns to show first, in this order; other labels follow. */
  labels: string[];
  sortBy: string;
}

/**
 * A table with one row per target and one column per instant query: the queries are merged on
 * their labels, and each value column gets its name and unit by override ("Value #A", ...).
 */
export function tablePanel(spec: TableSpec): table.PanelBuilder {
  const p = apply(new table.PanelBuilder(), { ...spec, targets: spec.columns.map((c) => ({ expr: c.expr, table: true })) })
    .filterable(true)
    .sortBy([new common.TableSortByFieldStateBuilder().displayName(spec.sortBy).desc(true)])
    .withTransformation({ id: 'merge', options: {} })
    .withTransformation({
      id: 'organize',
      options: {
        excludeByName: { Time: true },
        indexByName: Object.fromEntries([...spec.labels, ...spec.columns.map((_, i) => `Value #${String.fromCharCode(65 + i)}`)].map((n, i) => [n, i])),
        renameByName: {},
      },
    });
  spec.columns.forEach((c, i) => {
    p.overrideByName(`Value #${String.fromCharCode(65 + i)}`, [
      { id: 'displayName', value: c.name },
      { id: 'unit', value: c.unit },
    ]);
  });
  return p;
}
