/**
 * Label and field selectors with apimachinery's grammar (k8s.io/apimachinery/pkg/labels and /fields).
 *
 * Label selectors: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists), `!k` (does not
 * exist), `k>1`, `k<1`; comma-separated requirements are ANDed. Field selectors: `f=v`, `f==v`, `f!=v`,
 * with `\,` `\=` `\\` escapes.
 */
import { validateLabelValue, validateQualifiedName } from '../../src/keys/names.ts';

export class SelectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelectorError';
  }
}

export type LabelOperator = '=' | '==' | '!=' | 'in' | 'notin' | 'exists' | '!' | 'gt' | 'lt';

export interface LabelRequirement {
  key: string;
  operator: LabelOperator;
  values: string[];
}

type TokenKind = 'id' | '!' | '!=' | '=' | '==' | 'in' | 'notin' | '(' | ')' | ',' | '>' | '<' | 'end';
interface Token {
  kind: TokenKind;
  text: string;
}

const SPECIAL = new Set(['!', '=', '(', ')', ',', '<', '>']);

function lex(input: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '!' && input[i + 1] === '=') {
      out.push({ kind: '!=', text: '!=' });
      i += 2;
    } else if (c === '=' && input[i + 1] === '=') {
      out.push({ kind: '==', text: '==' });
      i += 2;
    } else if (SPECIAL.has(c)) {
      out.push({ kind: c as TokenKind, text: c });
      i++;
    } else {
      let j = i;
      while (j < input.length && !SPECIAL.has(input[j]!) && !/\s/.test(input[j]!)) j++;
      const text = input.slice(i, j);
      out.push({ kind: text === 'in' ? 'in' : text === 'notin' ? 'notin' : 'id', text });
      i = j;
    }
  }
  out.push({ kind: 'end', text: '' });
  return out;
}

/** Parses a label selector; the empty string selects everything. Throws SelectorError. */
export function parseLabelSelector(input: string): LabelRequirement[] {
  const toks = lex(input);
  let p = 0;
  const peek = (): Token => toks[p]!;
  const next = (): Token => toks[p++]!;
  const reqs: LabelRequirement[] = [];
  if (peek().kind === 'end') return reqs;
  for (;;) {
    reqs.push(requirement());
    const sep = next();
    if (sep.kind === 'end') break;
    if (sep.kind !== ',') throw new SelectorError(`found '${sep.text}', expected: ',' or 'end of string'`);
  }
  return reqs;

  // apimachinery's parser wraps every error of one requirement (key, operator, values, validation).
  function requirement(): LabelRequirement {
    try {
      return parseRequirement();
    } catch (err) {
      if (err instanceof SelectorError && !err.message.startsWith('unable to parse requirement: ')) throw new SelectorError(`unable to parse requirement: ${err.message}`);
      throw err;
    }
  }

  function parseRequirement(): LabelRequirement {
    let negated = false;
    if (peek().kind === '!') {
      next();
      negated = true;
    }
    const keyTok = next();
    if (keyTok.kind !== 'id') throw new SelectorError(`unable to parse requirement: found '${keyTok.text}', expected: identifier`);
    const key = keyTok.text;
    let req: LabelRequirement;
    if (negated) {
      req = { key, operator: '!', values: [] };
    } else {
      const op = peek();
      switch (op.kind) {
        case ',':
        case 'end':
          req = { key, operator: 'exists', values: [] };
          break;
        case '=':
        case '==':
        case '!=': {
          next();
          const v = peek();
          let value = '';
          if (v.kind === 'id') value = next().text;
          else if (v.kind !== ',' && v.kind !== 'end') throw new SelectorError(`found '${v.text}', expected: identifier`);
          req = { key, operator: op.kind, values: [value] };
          break;
        }
        case '>':
        case '<': {
          next();
          const v = next();
          if (v.kind !== 'id') throw new SelectorError(`found '${v.text}', expected: identifier`);
          if (!/^-?\d+$/.test(v.text)) throw new SelectorError(`unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer`);
          req = { key, operator: op.kind === '>' ? 'gt' : 'lt', values: [v.text] };
          break;
        }
        case 'in':
        case 'notin': {
          next();
          if (next().kind !== '(') throw new SelectorError(`found '${toks[p - 1]!.text}', expected: '('`);
          const values: string[] = [];
          for (;;) {
            const t = peek();
            if (t.kind === 'id') {
              values.push(next().text);
            } else if (t.kind === ',' || t.kind === ')') {
              values.push('');
            } else {
              throw new SelectorError(`found '${t.text}', expected: ',', ')' or identifier`);
            }
            const sep = next();
            if (sep.kind === ')') break;
            if (sep.kind !== ',') throw new SelectorError(`found '${sep.text}', expected: ',' or ')'`);
          }
          req = { key, operator: op.kind, values };
          break;
        }
        default:
          throw new SelectorError(`found '${op.text}', expected: in, notin, =, ==, !=, gt, lt`);
      }
    }
    validateRequirement(req);
    return req;
  }
}

function validateRequirement(r: LabelRequirement): void {
  const keyErrs = validateQualifiedName(r.key);
  if (keyErrs.length) throw new SelectorError(`unable to parse requirement: key: Invalid value: ${JSON.stringify(r.key)}: ${keyErrs.join('; ')}`);
  if ((r.operator === 'in' || r.operator === 'notin') && r.values.length === 0) {
    throw new SelectorError(`unable to parse requirement: values: Required value: for 'in', 'notin' operators, values set can't be empty`);
  }
  if (r.operator !== 'gt' && r.operator !== 'lt') {
    r.values.forEach((v, i) => {
      const errs = validateLabelValue(v);
      if (errs.length) throw new SelectorError(`unable to parse requirement: values[${i}][${r.key}]: Invalid value: ${JSON.stringify(v)}: ${errs.join('; ')}`);
    });
  }
}

export function matchesLabels(reqs: readonly LabelRequirement[], labels: Readonly<Record<string, string>> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.hasOwn(l, r.key);
    const v = has ? l[r.key]! : undefined;
    switch (r.operator) {
      case '=':
      case '==':
      case 'in':
        return has && r.values.includes(v!);
      case '!=':
      case 'notin':
        return !has || !r.values.includes(v!);
      case 'exists':
        return has;
      case '!':
        return !has;
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(v!)) return false;
        const n = Number(v);
        const bound = Number(r.values[0]);
        return r.operator === 'gt' ? n > bound : n < bound;
      }
    }
  });
}

export interface FieldRequirement {
  field: string;
  operator: '=' | '!=';
  value: string;
}

/** Splits on unescaped `sep`, keeping escapes for the next stage. */
function splitUnescaped(s: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[i + 1]!;
      i++;
    } else if (c === sep) {
      parts.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  parts.push(cur);
  return parts;
}

function unescapeFieldValue(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\') {
      const n = s[i + 1];
      if (n === '\\' || n === ',' || n === '=') {
        out += n;
        i++;
        continue;
      }
      throw new SelectorError(`invalid field selector: invalid escape sequence: \\${n ?? ''}`);
    }
    if (c === ',' || c === '=') throw new SelectorError(`invalid field selector: unescaped ${c}`);
    out += c;
  }
  return out;
}

/** Parses a field selector; the empty string selects everything. Throws SelectorError. */
export function parseFieldSelector(input: string): FieldRequirement[] {
  if (input.trim() === '') return [];
  return splitUnescaped(input, ',').map((term) => {
    const m = /^(.*?)(!=|==|=)(.*)$/s.exec(term);
    if (!m) throw new SelectorError(`invalid selector: '${input}'; can't understand '${term}'`);
    const field = m[1]!.trim();
    return { field, operator: m[2] === '!=' ? '!=' : '=', value: unescapeFieldValue(m[3]!) };
  });
}

export function matchesFields(reqs: readonly FieldRequirement[], fields: Readonly<Record<string, string>>): boolean {
  return reqs.every((r) => ((fields[r.field] ?? '') === r.value) === (r.operator === '='));
}
