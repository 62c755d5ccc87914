// Output of the admin CLI: -o table (people), json and yaml (scripts).
import { stringify } from 'yaml';

export type Format = 'table' | 'json' | 'yaml';

import { compactSpan } from '@outpost/shared';

export { table } from '@outpost/shared';

export function render(format: Format, value: unknown, asTable: () => string): string {
  if (format === 'json') return `${JSON.stringify(value, null, 2)}\n`;
  if (format === 'yaml') return stringify(value);
  return asTable();
}

/** "3m", "2h", "5d" ago or ahead — compact for tables. */
export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const text = compactSpan(now - Date.parse(iso));
  return Date.parse(iso) > now ? `in ${text}` : text;
}
