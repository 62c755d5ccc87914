// The hub's one YAML reader: API bodies of admin routes, `apply -f` files and the CLI's
// config file all come through here.
//
// Scalars are read the way kubectl reads manifests (sigs.k8s.io/yaml on go-yaml v2, a YAML
// 1.1 dialect): `0755` is 493, `yes`/`off`/`y` are booleans, `1_000` is 1000, timestamps
// stay strings, `1:20` stays a string. The `yaml` package only tokenizes (failsafe schema,
// every scalar a string); resolving scalars, keys, merges and aliases is done in one walk
// here, which also bounds the cost of hostile input:
//   - duplicate keys are found with a Set (the package's own check compares every key with
//     every other and takes tens of seconds on a flat mapping of 40,000 keys);
//   - an alias is expanded as a copy and counted again against the same byte budget as the
//     text itself, so a megabyte of aliases cannot become a 48 MiB document;
//   - nesting deeper than limits.nestingDepthMax is refused.
import { limits } from '@outpost/shared';
import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type Node,
  type ParsedNode,
  parseAllDocuments,
  stringify,
} from 'yaml';
import { ParseError } from './errors.ts';

export interface YamlOptions {
  /** Budget for the expanded document in bytes (aliases count every time they are used). */
  maxBytes: number;
  maxDepth?: number;
}

const boolNull = new Map<string, unknown>();
for (const s of ['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON']) boolNull.set(s, true);
for (const s of ['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF']) boolNull.set(s, false);
for (const s of ['', '~', 'null', 'Null', 'NULL']) boolNull.set(s, null);
// go-yaml resolves these to IEEE specials, which kubectl then fails to write as JSON.
const specials = ['.nan', '.NaN', '.NAN', '.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF', '-.inf', '-.Inf', '-.INF'];

// Go's strconv.ParseInt(s, 0, 64) syntax: 0x hex, 0o or a leading 0 octal, 0b binary, decimal.
const goInt = /^([+-]?)(?:0[xX]([0-9a-fA-F]+)|0[oO]([0-7]+)|0[bB]([01]+)|(0[0-7]*)|([1-9][0-9]*))$/;
const yamlStyleFloat = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;
const uint64Max = 2n ** 64n - 1n;

function parseGoInt(plain: string): number | undefined {
  const m = goInt.exec(plain);
  if (!m) return undefined;
  const [, sign, hex, oct, bin, leadingZero, dec] = m;
  let v: bigint;
  if (hex !== undefined) v = BigInt(`0x${hex}`);
  else if (oct !== undefined) v = BigInt(`0o${oct}`);
  else if (bin !== undefined) v = BigInt(`0b${bin}`);
  else if (leadingZero !== undefined) v = leadingZero.length > 1 ? BigInt(`0o${leadingZero.slice(1)}`) : 0n;
  else v = BigInt(dec as string);
  if (sign === '-') v = -v;
  // int64 first; an unsigned value needs no sign (ParseUint takes none) and fits uint64.
  if (v >= int64Min && v <= int64Max) return Number(v);
  if (sign === '' && v <= uint64Max) return Number(v);
  return undefined;
}

/** A plain (unquoted, untagged) scalar as go-yaml v2 resolves it for kubectl. */
export function resolvePlain(text: string): unknown {
  if (boolNull.has(text)) return boolNull.get(text);
  if (specials.includes(text)) throw new ParseError('BODY_MALFORMED', `${text} is not representable in JSON`);
  const first = text.charCodeAt(0);
  if (text[0] === '.') {
    if (/^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(text)) {
      const f = Number(text);
      if (Number.isFinite(f)) return f;
    }
    return text;
  }
  const digitOrSign = (first >= 48 && first <= 57) || text[0] === '+' || text[0] === '-';
  if (!digitOrSign) return text;
  // YYYY-… is a timestamp to go-yaml, which hands timestamps to kubectl as the string.
  if (/^[0-9]{4}-/.test(text)) return text;
  const plain = text.replaceAll('_', '');
  const i = parseGoInt(plain);
  if (i !== undefined) return i;
  if (yamlStyleFloat.test(plain)) {
    const f = Number(plain);
    if (Number.isFinite(f)) return f;
  }
  return text;
}

const tagPrefix = 'tag:yaml.org,2002:';

interface Walk {
  doc: Document.Parsed;
  budget: number;
  maxBytes: number;
  maxDepth: number;
}

function spend(w: Walk, n: number): void {
  w.budget -= n;
  if (w.budget < 0) {
    // 400, not 413: the text was within the limit; what it says is not acceptable.
    throw new ParseError(
      'BODY_MALFORMED',
      `the YAML document expands (aliases included) to more than ${w.maxBytes} bytes`,
    );
  }
}

function where(node: Node | null | undefined): string {
  const at = (node as { range?: [number, number, number] } | null | undefined)?.range?.[0];
  return at === undefined ? '' : ` (at character ${at})`;
}

function scalarValue(node: Node): unknown {
  if (!isScalar(node)) throw new ParseError('BODY_MALFORMED', `unexpected YAML node${where(node)}`);
  const text = String(node.value ?? '');
  const tag = node.tag?.startsWith(tagPrefix) ? node.tag.slice(tagPrefix.length) : node.tag;
  if (tag === 'str' || tag === 'binary') return text;
  const quoted = node.type !== 'PLAIN';
  if (tag === undefined || tag === '!') return quoted ? text : resolvePlain(text);
  const v = resolvePlain(text);
  const ok =
    (tag === 'int' && Number.isInteger(v)) ||
    (tag === 'float' && typeof v === 'number') ||
    (tag === 'bool' && typeof v === 'boolean') ||
    (tag === 'null' && v === null);
  if (ok) return v;
  if (tag === 'int' || tag === 'float' || tag === 'bool' || tag === 'null') {
    throw new ParseError(
      'BODY_MALFORMED',
      `cannot read ${JSON.stringify(text.slice(0, 40))} as !!${tag}${where(node)}`,
    );
  }
  // Unknown (local) tags: go-yaml keeps the text.
  return text;
}

function keyString(node: unknown): string {
  if (node === null || node === undefined) throw new ParseError('BODY_MALFORMED', 'a mapping key is empty');
  if (!isScalar(node)) throw new ParseError('BODY_MALFORMED', `mapping keys must be scalars${where(node as Node)}`);
  const v = scalarValue(node);
  if (v === null) throw new ParseError('BODY_MALFORMED', `a mapping key is null${where(node)}`);
  return String(v);
}

function isMergeKey(node: unknown): boolean {
  return isScalar(node) && node.type === 'PLAIN' && node.value === '<<' && node.tag === undefined;
}

function toValue(w: Walk, node: unknown, depth: number): unknown {
  if (depth > w.maxDepth) {
    throw new ParseError('BODY_TOO_DEEP', `YAML nested deeper than ${w.maxDepth} levels${where(node as Node)}`);
  }
  if (node === null || node === undefined) {
    spend(w, 4);
    return null;
  }
  if (isAlias(node)) {
    const target = node.resolve(w.doc);
    if (!target) throw new ParseError('BODY_MALFORMED', `unknown alias *${node.source}${where(node)}`);
    // A copy, counted again: consumers may change what they were given.
    return toValue(w, target, depth);
  }
  if (isScalar(node)) {
    const v = scalarValue(node);
    spend(w, typeof v === 'string' ? v.length + 2 : 8);
    return v;
  }
  if (isSeq(node)) {
    spend(w, 2);
    const out: unknown[] = [];
    for (const item of node.items) {
      spend(w, 1);
      out.push(toValue(w, item, depth + 1));
    }
    return out;
  }
  if (isMap(node)) {
    spend(w, 2);
    const out: Record<string, unknown> = {};
    const explicit = new Set<string>();
    const merged: Record<string, unknown>[] = [];
    for (const pair of node.items) {
      if (!isPair(pair)) throw new ParseError('BODY_MALFORMED', 'malformed mapping');
      if (isMergeKey(pair.key)) {
        const sources = isSeq(pair.value) ? pair.value.items : [pair.value];
        for (const s of sources) {
          const v = toValue(w, s, depth + 1);
          if (v === null || typeof v !== 'object' || Array.isArray(v)) {
            throw new ParseError('BODY_MALFORMED', `a merge key (<<) needs mappings${where(pair.key as Node)}`);
          }
          merged.push(v as Record<string, unknown>);
        }
        continue;
      }
      const key = keyString(pair.key);
      // As the JSON parser does: such keys are a prototype-poisoning attempt, not data.
      if (key === '__proto__')
        throw new ParseError('BODY_MALFORMED', `the key __proto__ is not allowed${where(pair.key as Node)}`);
      if (explicit.has(key)) {
        throw new ParseError(
          'BODY_MALFORMED',
          `duplicate key ${JSON.stringify(key.slice(0, 100))}${where(pair.key as Node)}`,
        );
      }
      explicit.add(key);
      spend(w, key.length + 4);
      out[key] = toValue(w, pair.value, depth + 1);
    }
    // Explicit keys win over merged ones; the first merged mapping wins over later ones.
    for (const m of merged) {
      for (const [k, v] of Object.entries(m)) {
        if (Object.hasOwn(out, k)) continue;
        out[k] = v;
      }
    }
    return out;
  }
  throw new ParseError('BODY_MALFORMED', `unexpected YAML node${where(node as Node)}`);
}

/**
 * Every document of `text`, in order, as plain JSON values (an empty document is null).
 * Throws ParseError with a stable code; never anything else for bad input.
 */
export function parseYamlDocuments(text: string, opts: YamlOptions): unknown[] {
  return parseYamlDocumentsAt(text, opts).map((d) => d.value);
}

/** The line (1-based) of a character offset of `text`. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/**
 * The line of `text` a ParseError of parseYamlDocuments names: the YAML package's "at line
 * N", or the reader's own "(at character N)"; undefined when it names none.
 */
export function errorLine(text: string, message: string): number | undefined {
  const line = /\bline (\d+)/.exec(message);
  if (line) return Number(line[1]);
  const at = /at character (\d+)/.exec(message);
  return at ? lineAt(text, Number(at[1])) : undefined;
}

/** Every document of `text` with the line it starts on (a file of manifests: gitrepos/). */
export function parseYamlDocumentsAt(text: string, opts: YamlOptions): { value: unknown; line: number }[] {
  let docs: Document.Parsed<ParsedNode>[];
  try {
    const parsed = parseAllDocuments(text, { schema: 'failsafe', version: '1.1', uniqueKeys: false });
    docs = Array.isArray(parsed) ? parsed : [];
  } catch (err) {
    // The package composes recursively: a deep enough flow collection overflows the stack.
    if (err instanceof RangeError) throw new ParseError('BODY_TOO_DEEP', `YAML nested too deeply to read`);
    throw new ParseError('BODY_MALFORMED', `YAML: ${(err as Error).message}`);
  }
  const out: { value: unknown; line: number }[] = [];
  // Lines counted once over the text, document by document (documents come in order).
  let counted = { offset: 0, line: 1 };
  const lineOf = (offset: number) => {
    const line = counted.line + lineAt(text.slice(counted.offset, offset), offset - counted.offset) - 1;
    counted = { offset, line };
    return line;
  };
  // One budget for all documents of one text.
  const w: Walk = {
    doc: undefined as unknown as Document.Parsed,
    budget: opts.maxBytes,
    maxBytes: opts.maxBytes,
    maxDepth: opts.maxDepth ?? limits.nestingDepthMax,
  };
  for (const [i, doc] of docs.entries()) {
    w.doc = doc;
    const err = doc.errors[0];
    // The package composes recursively: deep flow collections overflow its stack.
    if (err?.message.includes('call stack')) throw new ParseError('BODY_TOO_DEEP', 'YAML nested too deeply to read');
    if (err) throw new ParseError('BODY_MALFORMED', `YAML document ${i + 1}: ${err.message.split('\n')[0]}`);
    try {
      const start = doc.contents?.range?.[0] ?? doc.range[0];
      out.push({ value: toValue(w, doc.contents, 0), line: lineOf(Math.max(start, counted.offset)) });
    } catch (e) {
      if (e instanceof ParseError) throw e;
      if (e instanceof RangeError) throw new ParseError('BODY_TOO_DEEP', 'YAML nested too deeply to read');
      throw new ParseError('BODY_MALFORMED', `YAML document ${i + 1}: ${(e as Error).message}`);
    }
  }
  return out;
}

/** Exactly one document (an API body, a config file). */
export function parseYaml(text: string, opts: YamlOptions): unknown {
  const docs = parseYamlDocuments(text, opts);
  if (docs.length > 1) throw new ParseError('BODY_MALFORMED', 'expected one YAML document, got several');
  return docs[0] ?? null;
}

/**
 * `value` (plain JSON data) as YAML that kubectl and parseYaml read back as the same value:
 * YAML 1.1 quoting (strings such as "yes", "on", "0755" or "1:20" are quoted), no anchors,
 * long strings not folded.
 */
export function writeYaml(value: unknown): string {
  return stringify(value, { version: '1.1', lineWidth: 0, aliasDuplicateObjects: false });
}
