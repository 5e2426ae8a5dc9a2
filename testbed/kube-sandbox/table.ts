/**
 * `meta.k8s.io/v1` Table responses, the server-side printing kubectl asks for with
 * `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.
 */
import type { Json, JsonObject, KubeObject } from './types.ts';

export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format: string;
  description: string;
  priority: number;
}

export interface TableConvertor {
  columns: TableColumn[];
  /** One row's cells for an object in its served form; `now` is epoch ms. */
  cells(obj: KubeObject, now: number): Json[];
}

export type IncludeObject = 'None' | 'Object' | 'Metadata';

export function parseIncludeObject(v: string | null): IncludeObject | undefined {
  if (v === null || v === '' || v === 'Metadata' || v === 'PartialObjectMetadata') return 'Metadata';
  if (v === 'None' || v === 'Object') return v;
  return undefined;
}

export function partialObjectMetadata(obj: KubeObject): JsonObject {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata ?? {} };
}

export function toTable(
  convertor: TableConvertor,
  objects: readonly KubeObject[],
  opts: { now: number; includeObject: IncludeObject; noHeaders: boolean; listMeta: JsonObject; tableVersion: 'v1' | 'v1beta1' },
): JsonObject {
  const rows = objects.map((o) => {
    const row: JsonObject = { cells: convertor.cells(o, opts.now) };
    if (opts.includeObject === 'Object') row.object = o;
    else if (opts.includeObject === 'Metadata') row.object = partialObjectMetadata(o);
    return row;
  });
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${opts.tableVersion}`,
    metadata: opts.listMeta,
    columnDefinitions: opts.noHeaders ? null : (convertor.columns as unknown as Json),
    rows,
  };
}

/** k8s.io/apimachinery/pkg/util/duration.HumanDuration, as kubectl's AGE column shows it. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.floor(hours / 24) % 365;
    return dy === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

/** Age of a timestamp, `<unknown>` when absent (printers.translateTimestampSince). */
export function since(timestamp: Json | undefined, now: number): string {
  if (typeof timestamp !== 'string' || timestamp === '') return '<unknown>';
  const t = Date.parse(timestamp);
  if (Number.isNaN(t)) return '<unknown>';
  return humanDuration(now - t);
}
