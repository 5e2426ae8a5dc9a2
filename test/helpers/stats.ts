/** Small statistics for benchmark runs: medians, not means, on a shared and noisy machine. */

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function min(values: readonly number[]): number {
  return values.length ? Math.min(...values) : Number.NaN;
}

export function max(values: readonly number[]): number {
  return values.length ? Math.max(...values) : Number.NaN;
}

/** "12.3" with a fixed number of decimals; "n/a" for NaN. */
export function fixed(value: number, decimals = 1): string {
  return Number.isFinite(value) ? value.toFixed(decimals) : 'n/a';
}

/** Median with the spread of the runs: "63.8 (63.1–64.2)". */
export function spread(values: readonly number[], decimals = 1): string {
  if (values.length === 0) return 'n/a';
  if (values.length === 1) return fixed(values[0]!, decimals);
  return `${fixed(median(values), decimals)} (${fixed(min(values), decimals)}–${fixed(max(values), decimals)})`;
}
