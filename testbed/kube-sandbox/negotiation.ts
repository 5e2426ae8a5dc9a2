/** Accept-header negotiation as kube-apiserver does it: JSON, YAML, Table and PartialObjectMetadata. */
import { notAcceptable } from './status.ts';

export interface Negotiated {
  format: 'json' | 'yaml';
  /** Server-side printing: `meta.k8s.io/<version>` Table. */
  table?: 'v1' | 'v1beta1';
  /** Metadata-only responses (PartialObjectMetadata / PartialObjectMetadataList). */
  partial?: 'v1' | 'v1beta1';
}

interface MediaRange {
  type: string;
  params: Record<string, string>;
  q: number;
}

const SERVED = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'];

function parseAccept(header: string): MediaRange[] {
  return header
    .split(',')
    .map((part, i) => {
      const [type = '', ...rest] = part.split(';').map((s) => s.trim());
      const params: Record<string, string> = {};
      for (const p of rest) {
        const eq = p.indexOf('=');
        if (eq > 0) params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim();
      }
      const q = params.q === undefined ? 1 : Number(params.q);
      return { range: { type: type.toLowerCase(), params, q: Number.isFinite(q) ? q : 1 }, i };
    })
    .filter(({ range }) => range.type !== '' && range.q > 0)
    .sort((a, b) => b.range.q - a.range.q || a.i - b.i)
    .map(({ range }) => range);
}

/** The response form for an Accept header; throws 406 NotAcceptable when nothing fits. */
export function negotiate(accept: string | undefined, opts: { allowTable: boolean; allowYaml: boolean }): Negotiated {
  if (accept === undefined || accept.trim() === '') return { format: 'json' };
  for (const r of parseAccept(accept)) {
    const isJson = r.type === 'application/json';
    const as = r.params.as;
    if (as !== undefined) {
      if (!isJson) continue;
      const gOk = r.params.g === 'meta.k8s.io' && (r.params.v === 'v1' || r.params.v === 'v1beta1');
      if (!gOk) continue;
      const v = r.params.v as 'v1' | 'v1beta1';
      if (as === 'Table' && opts.allowTable) return { format: 'json', table: v };
      if (as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList') return { format: 'json', partial: v };
      continue;
    }
    if (isJson || r.type === '*/*' || r.type === 'application/*') return { format: 'json' };
    if (r.type === 'application/yaml' && opts.allowYaml) return { format: 'yaml' };
  }
  throw notAcceptable(SERVED);
}

/** The media type of a request body, without parameters. */
export const mediaType = (contentType: string | undefined): string => (contentType ?? '').split(';')[0]!.trim().toLowerCase();
