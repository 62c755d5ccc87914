// JSON bodies: the nesting depth is checked on the text before JSON.parse sees it. V8's
// parser copes with deep nesting, but everything after it (validation, canonical JSON,
// the store) walks values recursively, and a 10,000-deep value overflowed the stack there.
import { limits } from '@outpost/shared';
import { ParseError } from './errors.ts';

const quote = 0x22;
const backslash = 0x5c;
const openSquare = 0x5b;
const openCurly = 0x7b;
const closeSquare = 0x5d;
const closeCurly = 0x7d;

/** Throws BODY_TOO_DEEP when arrays and objects in `text` nest deeper than `max`. Linear, no allocation. */
export function checkJsonDepth(text: string, max: number = limits.nestingDepthMax): void {
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === quote) {
      // Skip the string; an escaped quote does not end it.
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === backslash) i++;
        else if (d === quote) break;
      }
    } else if (c === openSquare || c === openCurly) {
      depth++;
      if (depth > max) throw new ParseError('BODY_TOO_DEEP', `JSON nested deeper than ${max} levels`);
    } else if (c === closeSquare || c === closeCurly) depth--;
  }
}
