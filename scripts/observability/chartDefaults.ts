import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../generated.ts';

/**
 * What the plain rules file and the dashboard take from the chart's values.yaml, so the alert
 * thresholds follow the resources the chart gives the container instead of being a second copy.
 */

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** Bytes of a Kubernetes memory quantity ("128Mi", "1G", 134217728); the chart's helper reads the same forms. */
export function quantityBytes(quantity: string | number): number {
  if (typeof quantity === 'number') return quantity;
  const m = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity.trim());
  if (!m) throw new Error(`"${quantity}" is not a memory quantity such as 128Mi`);
  return Number(m[1]) * UNITS[m[2] ?? '']!;
}

export interface ChartValues {
  resources?: { limits?: { memory?: string | number }; requests?: { memory?: string | number } };
  metrics: { prometheusRule: { thresholds: { memoryLimitRatio: number; memoryBytes: number } } };
}

export const chartValues = (): ChartValues => parse(readFileSync(join(ROOT, 'charts/imds-labeler/values.yaml'), 'utf8')) as ChartValues;

/**
 * The memory threshold of ImdsLabelerHighMemory: memoryBytes when set, else memoryLimitRatio of the
 * container's memory limit (whole bytes, rounded down as the chart does).
 */
export function memoryThresholdBytes(values: ChartValues = chartValues()): number {
  const t = values.metrics.prometheusRule.thresholds;
  if (t.memoryBytes > 0) return t.memoryBytes;
  const limit = values.resources?.limits?.memory;
  if (limit === undefined) throw new Error('resources.limits.memory is not set: set metrics.prometheusRule.thresholds.memoryBytes');
  return Math.floor(t.memoryLimitRatio * quantityBytes(limit));
}
