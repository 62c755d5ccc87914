// test/monitoring: what the tests of deploy/monitoring read out of PromQL expressions and
// Prometheus text: the series an expression selects (names and label matchers), Grafana's
// variables replaced so promtool can parse a dashboard's queries, and the names and label
// values a /metrics answer exports. Not a PromQL parser: promtool parses every expression
// too, so a reading that went wrong here fails that check or this one, never both silently.

export interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

/** One vector selector: a metric name (undefined for `{__name__=…}` alone) and its matchers. */
export interface Selector {
  name: string | undefined;
  matchers: Matcher[];
}

/** Words PromQL reserves that may stand where a metric name could. */
const keywords = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'atan2',
  'inf',
  'nan',
  'start',
  'end',
]);

/** The selectors of a PromQL expression (every name and `{…}`), in order of appearance. */
export function selectors(expr: string): Selector[] {
  const found: Selector[] = [];
  // Selectors with braces first: their label values are the only strings whose content counts.
  let rest = expr.replace(/([A-Za-z_:][\w:]*)?\s*\{((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\}/g, (_m, name, body: string) => {
    found.push({ name: name || undefined, matchers: matchers(body) });
    return ' ';
  });
  rest = rest
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ') // label_replace's arguments and the like
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/gi, ' ') // label lists
    .replace(/\[[^\]]*\]/g, ' '); // ranges and subqueries
  for (const m of rest.matchAll(/[A-Za-z_:][\w:]*|\d[\w.]*/g)) {
    const word = m[0];
    if (/^\d/.test(word) || keywords.has(word.toLowerCase())) continue;
    if (/^\s*\(/.test(rest.slice((m.index ?? 0) + word.length))) continue; // a function or an aggregation
    found.push({ name: word, matchers: [] });
  }
  return found;
}

function matchers(body: string): Matcher[] {
  return [...body.matchAll(/([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map((m) => ({
    label: m[1] as string,
    op: m[2] as Matcher['op'],
    value: m[3] as string,
  }));
}

/**
 * A dashboard query as Prometheus would receive it: Grafana's interval variables become a
 * duration, and template variables (`$hub`, `${hub}`) plain text in their place.
 */
export function withoutGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$__(?:rate_interval|interval|range)\b|\$\{__(?:rate_interval|interval|range)\}/g, '5m')
    .replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (_m, a, b) => a ?? b);
}

/** What a /metrics answer exports: every series name, and per name the labels with their values. */
export type Exported = Map<string, Map<string, Set<string>>>;

/** Reads Prometheus text: names from `# TYPE` lines (a histogram's three series) and samples. */
export function exported(text: string): Exported {
  const out: Exported = new Map();
  const series = (name: string) => {
    const labels = out.get(name) ?? new Map<string, Set<string>>();
    out.set(name, labels);
    return labels;
  };
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\w+)$/.exec(line);
    if (type) {
      const [, name, kind] = type as unknown as [string, string, string];
      if (kind === 'histogram') for (const s of ['_bucket', '_sum', '_count']) series(name + s);
      else series(name);
      continue;
    }
    const sample = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (!sample) continue;
    const labels = series(sample[1] as string);
    for (const m of (sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      const [, label, value] = m as unknown as [string, string, string];
      labels.set(label, (labels.get(label) ?? new Set()).add(value));
    }
  }
  return out;
}
