// Per-cluster values in a work template. The syntax is a small, fixed subset of Go templates
// (what OCM and Fleet users already write), applied to string values only, never to keys:
//
//   {{ .clusterName }}                    the cluster's name
//   {{ .labels.KEY }}                     a label value; KEY may contain dots and slashes
//   {{ .claims.KEY }}                     a claim value   (e.g. {{ .claims.kubeversion.open-cluster-management.io }})
//   {{ .labels.KEY | default "text" }}    the label, or "text" when the cluster lacks it
//   {{ "any text" }}                      a JSON string literal, output as is: the escape for a
//                                         literal "{{ .Values.x }}" meant for another engine
//
// KEY is spelled like a label key ([A-Za-z0-9][-A-Za-z0-9_./]*); a claim whose name uses
// other characters cannot be referenced. Values are inserted as text into the string, so a
// value can never add structure to a manifest (no YAML or JSON is re-parsed).
//
// Only expressions starting with "." or '"' belong to Outpost. Anything else between braces,
// such as Prometheus' {{ $labels.instance }} or {{- if … }}, is left untouched, so alerting
// rules and other templated configuration pass through unchanged. A "." expression that is
// not one of the forms above is TEMPLATE_UNKNOWN_REFERENCE (a typo like .label.x or
// .ClusterName must not go out verbatim); a label or claim the cluster lacks, without a
// default, is TEMPLATE_UNRESOLVED when rendering for that cluster.

import { limits } from '@outpost/shared';
import type { FieldProblem } from '../placement/types.ts';
import { isObject, type Problems } from '../placement/validate.ts';
import type { TemplateCluster } from './types.ts';

export type TemplateRef =
  | { kind: 'clusterName' }
  | { kind: 'labels' | 'claims'; key: string; default?: string }
  | { kind: 'literal'; text: string };

export type TemplateSegment = string | TemplateRef;

const reference =
  /^\.(?:(clusterName)|(labels|claims)\.([A-Za-z0-9][-A-Za-z0-9_./]*))(?:\s*\|\s*default\s+("(?:[^"\\]|\\.)*"))?$/;

/** Reads the JSON string literal starting at s[start] === '"'; undefined when unterminated. */
function readStringLiteral(s: string, start: number): { value: string; end: number } | undefined {
  for (let i = start + 1; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === '"') {
      try {
        return { value: JSON.parse(s.slice(start, i + 1)) as string, end: i + 1 };
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** Splits a string into text and references, or says why a "." expression is malformed. */
export function parseTemplate(s: string): { segments: TemplateSegment[] } | { error: string } {
  const segments: TemplateSegment[] = [];
  let text = '';
  let i = 0;
  let refs = 0;
  for (;;) {
    const open = s.indexOf('{{', i);
    if (open < 0) {
      text += s.slice(i);
      break;
    }
    text += s.slice(i, open);
    let j = open + 2;
    while (s[j] === ' ' || s[j] === '\t') j++;
    const first = s[j];
    if (first !== '.' && first !== '"') {
      // Someone else's template: keep it, braces and all.
      const close = s.indexOf('}}', j);
      if (close < 0) {
        text += s.slice(open);
        break;
      }
      text += s.slice(open, close + 2);
      i = close + 2;
      continue;
    }
    if (++refs > limits.templateRefsPerValueMax) {
      return { error: `more than ${limits.templateRefsPerValueMax} template references in one value` };
    }
    if (first === '"') {
      const lit = readStringLiteral(s, j);
      let k = lit?.end ?? -1;
      while (k >= 0 && (s[k] === ' ' || s[k] === '\t')) k++;
      if (!lit || !s.startsWith('}}', k))
        return { error: 'a {{ "…" }} literal must be one JSON string followed by }}' };
      if (text) segments.push(text);
      text = '';
      segments.push({ kind: 'literal', text: lit.value });
      i = k + 2;
      continue;
    }
    const close = s.indexOf('}}', j);
    if (close < 0) return { error: `unterminated {{ ${s.slice(j, j + 40)}` };
    const expr = s.slice(j, close).trim();
    const m = reference.exec(expr);
    if (!m) {
      return {
        error: `unknown reference {{ ${expr.slice(0, 80)} }}: use .clusterName, .labels.KEY or .claims.KEY (optionally | default "text")`,
      };
    }
    if (text) segments.push(text);
    text = '';
    if (m[1]) segments.push({ kind: 'clusterName' });
    else {
      const ref: TemplateRef = { kind: m[2] as 'labels' | 'claims', key: m[3] as string };
      if (m[4] !== undefined) ref.default = JSON.parse(m[4]) as string;
      segments.push(ref);
    }
    i = close + 2;
  }
  if (text) segments.push(text);
  return { segments };
}

// Rendering the same template for 10,000 clusters parses each string once.
const parsed = new Map<string, ReturnType<typeof parseTemplate>>();
function cachedParse(s: string) {
  let p = parsed.get(s);
  if (!p) {
    if (parsed.size >= 10_000) parsed.clear();
    p = parseTemplate(s);
    parsed.set(s, p);
  }
  return p;
}

/** Sets an own property, even "__proto__" (a manifest may be any JSON; assignment would not). */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

export interface RenderProblem extends FieldProblem {
  code: 'TEMPLATE_UNKNOWN_REFERENCE' | 'TEMPLATE_UNRESOLVED';
}

/** One string with the cluster's values substituted; problems are appended to `out`. */
export function renderString(s: string, cluster: TemplateCluster, field: string, out: RenderProblem[]): string {
  if (!s.includes('{{')) return s;
  const p = cachedParse(s);
  if ('error' in p) {
    out.push({ code: 'TEMPLATE_UNKNOWN_REFERENCE', field, message: p.error });
    return s;
  }
  let result = '';
  for (const seg of p.segments) {
    if (typeof seg === 'string') result += seg;
    else if (seg.kind === 'literal') result += seg.text;
    else if (seg.kind === 'clusterName') result += cluster.name;
    else {
      const source = cluster[seg.kind];
      const v = Object.hasOwn(source, seg.key) ? source[seg.key] : undefined;
      if (v !== undefined) result += v;
      else if (seg.default !== undefined) result += seg.default;
      else {
        out.push({
          code: 'TEMPLATE_UNRESOLVED',
          field,
          message: `cluster ${cluster.name} has no ${seg.kind === 'labels' ? 'label' : 'claim'} ${JSON.stringify(seg.key)} (add | default "…" to allow that)`,
        });
      }
    }
  }
  return result;
}

/** A deep copy of `v` with every string value rendered for the cluster. */
export function renderValue(v: unknown, cluster: TemplateCluster, field: string, out: RenderProblem[]): unknown {
  if (typeof v === 'string') return renderString(v, cluster, field, out);
  if (Array.isArray(v)) return v.map((x, i) => renderValue(x, cluster, `${field}[${i}]`, out));
  if (isObject(v)) {
    const copy: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) setOwn(copy, k, renderValue(x, cluster, `${field}.${k}`, out));
    return copy;
  }
  return v;
}

/** Reports malformed or unknown "." references anywhere in `v` (validation time). */
export function templateProblems(v: unknown, field: string, p: Problems): void {
  if (typeof v === 'string') {
    if (!v.includes('{{')) return;
    const parsedValue = cachedParse(v);
    if ('error' in parsedValue) p.add(field, parsedValue.error);
  } else if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) templateProblems(x, `${field}[${i}]`, p);
  } else if (isObject(v)) for (const [k, x] of Object.entries(v)) templateProblems(x, `${field}.${k}`, p);
}
