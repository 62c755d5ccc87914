// Reads ManifestWork documents for `work apply -f`: a file, every *.yaml/*.yml/*.json in a
// folder (sorted), or standard input; multi-document YAML.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { OutpostError } from '@outpost/shared';
import { parseAllDocuments } from 'yaml';

export interface WorkDocument {
  source: string;
  doc: Record<string, unknown>;
}

function parseText(text: string, source: string): WorkDocument[] {
  const out: WorkDocument[] = [];
  for (const [i, d] of parseAllDocuments(text).entries()) {
    if (d.errors.length) {
      throw new OutpostError(
        'CLI_FILE_INVALID',
        `${source} document ${i + 1}: ${d.errors[0]?.message ?? 'invalid YAML'}`,
        2,
      );
    }
    const value = d.toJS({ maxAliasCount: 100 }) as unknown;
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
