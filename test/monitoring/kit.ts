// test/monitoring: where the operator kit of deploy/monitoring lives and how its tests read
// it (the rule files, promtool's unit tests of them in rules/, the Grafana dashboard).

import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';

export const repo = join(import.meta.dirname, '../..');
/** The rule files, the hub's and the agents', as the unit tests name them from `unitTestDir`. */
export const rulesFiles = ['outpost-hub-rules.yaml', 'outpost-agent-rules.yaml'].map((f) =>
  join(repo, 'deploy/monitoring/prometheus', f),
);
export const dashboardFile = join(repo, 'deploy/monitoring/grafana/outpost.json');
/** promtool's unit tests of the rules (`promtool test rules`), run from this folder. */
export const unitTestDir = join(import.meta.dirname, 'rules');
export const unitTestFiles = readdirSync(unitTestDir).filter((f) => f.endsWith('.yaml'));

export interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleGroup {
  name: string;
  rules: Rule[];
}

/** The groups of both rule files, the hub's first. */
export async function readRules(): Promise<RuleGroup[]> {
  const files = await Promise.all(rulesFiles.map((f) => readFile(f, 'utf8')));
  return files.flatMap((text) => (parse(text) as { groups: RuleGroup[] }).groups);
}

export interface UnitTestFile {
  rule_files: string[];
  group_eval_order?: string[];
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

export async function readUnitTests(): Promise<[string, UnitTestFile][]> {
  return Promise.all(
    unitTestFiles.map(
      async (f) => [f, parse(await readFile(join(unitTestDir, f), 'utf8')) as UnitTestFile] as [string, UnitTestFile],
    ),
  );
}

export interface Target {
  refId: string;
  expr: string;
  datasource?: { type?: string; uid?: string };
  legendFormat?: string;
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}

export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: {
    list: { name: string; type: string; query: unknown; datasource?: { type?: string; uid?: string } }[];
  };
}

export async function readDashboard(): Promise<Dashboard> {
  return JSON.parse(await readFile(dashboardFile, 'utf8')) as Dashboard;
}

/** Every panel, those inside collapsed rows included. */
export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/**
 * The PromQL of the dashboard: every query, and the series a variable's `label_values(…)`
 * reads, each with where it comes from.
 */
export function dashboardExprs(d: Dashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const p of allPanels(d)) {
    for (const t of p.targets ?? []) out.push({ where: `panel ${p.id} (${p.title}) query ${t.refId}`, expr: t.expr });
  }
  for (const v of d.templating.list) {
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
    const series = q && /^label_values\((.+),\s*\w+\)$/.exec(q)?.[1];
    if (series) out.push({ where: `variable ${v.name}`, expr: series });
  }
  return out;
}
