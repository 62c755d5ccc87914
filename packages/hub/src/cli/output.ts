// Output of the admin CLI: -o table (people), json and yaml (scripts).
import { stringify } from 'yaml';

export type Format = 'table' | 'json' | 'yaml';

export { table } from '@outpost/shared';

export function render(format: Format, value: unknown, asTable: () => string): string {
  if (format === 'json') return `${JSON.stringify(value, null, 2)}\n`;
  if (format === 'yaml') return stringify(value);
  return asTable();
}

/** "3m", "2h", "5d" ago or ahead — compact for tables. */
export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const ms = Math.abs(now - Date.parse(iso));
  const s = Math.round(ms / 1000);
  const text =
    s < 120
      ? `${s}s`
      : s < 7200
        ? `${Math.round(s / 60)}m`
        : s < 172_800
          ? `${Math.round(s / 3600)}h`
          : `${Math.round(s / 86_400)}d`;
  return Date.parse(iso) > now ? `in ${text}` : text;
}
