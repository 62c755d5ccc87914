// Kubernetes label selectors: the string form (`a=b,c!=d,e in (x,y),!f`) and the object
// form (matchLabels + matchExpressions), with exactly Kubernetes' matching semantics.

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface Requirement {
  key: string;
  operator: SelectorOperator;
  values: string[];
}

export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export class SelectorError extends Error {
  readonly code = 'SELECTOR_INVALID';
}

/** Parses the string form used by `labelSelector=` and `-l`. */
export function parseSelector(text: string): Requirement[] {
  const out: Requirement[] = [];
  const src = text.trim();
  let i = 0;
  const fail = (why: string): never => {
    throw new SelectorError(`label selector ${JSON.stringify(text.slice(0, 200))}: ${why}`);
  };
  const skipSpace = () => {
    while (src[i] === ' ') i++;
  };
  const readKey = () => {
    skipSpace();
    const m = /^[A-Za-z0-9][-A-Za-z0-9_./]*/.exec(src.slice(i));
    if (!m) fail(`expected a label key at position ${i}`);
    i += (m as RegExpExecArray)[0].length;
    return (m as RegExpExecArray)[0];
  };
  const readValue = () => {
    skipSpace();
    const m = /^[-A-Za-z0-9_.]*/.exec(src.slice(i)) as RegExpExecArray;
    i += m[0].length;
    return m[0];
  };
  while (i < src.length) {
    skipSpace();
    if (src[i] === '!') {
      i++;
      out.push({ key: readKey(), operator: 'DoesNotExist', values: [] });
    } else {
      const key = readKey();
      skipSpace();
      const rest = src.slice(i);
      if (rest.startsWith('!=')) {
        i += 2;
        out.push({ key, operator: 'NotIn', values: [readValue()] });
      } else if (rest.startsWith('==')) {
        i += 2;
        out.push({ key, operator: 'In', values: [readValue()] });
      } else if (rest.startsWith('=')) {
        i += 1;
        out.push({ key, operator: 'In', values: [readValue()] });
      } else if (/^(in|notin)\s*\(/.test(rest)) {
        const notIn = rest.startsWith('notin');
        i = src.indexOf('(', i) + 1;
        const close = src.indexOf(')', i);
        if (close < 0) fail('missing ")"');
        const values = src
          .slice(i, close)
          .split(',')
          .map((v) => v.trim());
        if (values.some((v) => !/^[-A-Za-z0-9_.]*$/.test(v))) fail('bad value in set');
        i = close + 1;
        out.push({ key, operator: notIn ? 'NotIn' : 'In', values });
      } else if (rest === '' || rest.startsWith(',')) {
        out.push({ key, operator: 'Exists', values: [] });
      } else {
        fail(`unexpected ${JSON.stringify(rest.slice(0, 20))}`);
      }
    }
    skipSpace();
    if (i < src.length) {
      if (src[i] !== ',') fail(`expected "," at position ${i}`);
      i++;
      skipSpace();
      if (i >= src.length) fail('expected a requirement after ","');
    }
  }
  return out;
}

/** Converts the object form; an invalid operator or value list is a SelectorError. */
export function selectorFromObject(sel: LabelSelectorObject | undefined): Requirement[] {
  const out: Requirement[] = [];
  for (const [key, value] of Object.entries(sel?.matchLabels ?? {})) out.push({ key, operator: 'In', values: [value] });
  for (const e of sel?.matchExpressions ?? []) {
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) throw new SelectorError(`${e.operator} on ${e.key} needs at least one value`);
        out.push({ key: e.key, operator: e.operator, values });
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) throw new SelectorError(`${e.operator} on ${e.key} takes no values`);
        out.push({ key: e.key, operator: e.operator, values: [] });
        break;
      default:
        throw new SelectorError(`unknown operator ${JSON.stringify(e.operator)}`);
    }
  }
  return out;
}

/** Kubernetes semantics: every requirement must hold; NotIn matches when the key is absent. */
export function matchesSelector(requirements: readonly Requirement[], labels: Record<string, string>): boolean {
  for (const r of requirements) {
    const has = Object.hasOwn(labels, r.key);
    const v = labels[r.key];
    switch (r.operator) {
      case 'In':
        if (!has || !r.values.includes(v as string)) return false;
        break;
      case 'NotIn':
        if (has && r.values.includes(v as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}
