// Reads the documents of `apply -f` and `delete -f` (cli/objects.ts): a file, every
// *.yaml/*.yml/*.json in a folder (sorted), or standard input; multi-document YAML.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { limits, OutpostError } from '@outpost/shared';
import { ParseError, parseYamlDocuments } from '../parse/index.ts';

export interface WorkDocument {
  source: string;
  doc: Record<string, unknown>;
}

function parseText(text: string, source: string): WorkDocument[] {
  let values: unknown[];
  try {
    // A file may hold many works; aliases may expand it, but not by orders of magnitude.
    values = parseYamlDocuments(text, { maxBytes: Math.max(limits.workBytes, 4 * text.length) });
  } catch (err) {
    if (err instanceof ParseError)
      throw new OutpostError('CLI_FILE_INVALID', `${source}: ${err.message} (${err.code})`, 2);
    throw err;
  }
  const out: WorkDocument[] = [];
  for (const [i, value] of values.entries()) {
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new OutpostError('CLI_FILE_INVALID', `${source} document ${i + 1} is not an object`, 2);
    }
    out.push({ source: `${source}#${i + 1}`, doc: value as Record<string, unknown> });
  }
  return out;
}

export function readWorkDocuments(path: string, readStdin: () => string): WorkDocument[] {
  if (path === '-') return parseText(readStdin(), 'stdin');
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    throw new OutpostError('CLI_FILE_INVALID', `cannot read ${path}`, 2);
  }
  if (st.isDirectory()) {
    return readdirSync(path)
      .filter((f) => /\.(ya?ml|json)$/.test(f))
      .sort()
      .flatMap((f) => parseText(readFileSync(join(path, f), 'utf8'), join(path, f)));
  }
  return parseText(readFileSync(path, 'utf8'), path);
}
