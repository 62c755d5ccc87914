// deploy/monitoring/grafana/outpost.json: a dashboard a current Grafana imports as it is
// (classic JSON model, a Prometheus data source variable every query uses), laid out on the
// 24-column grid without overlaps, whose queries all parse (promtool, as recording rules)
// and cover what the hub and the agents export. The names they use are checked against
// the running processes in metric-names.test.ts.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { run } from '../kube/run.ts';
import { ensurePromtool } from '../prometheus/index.ts';
import { allPanels, type Dashboard, dashboardExprs, readDashboard } from './kit.ts';
import { selectors, withoutGrafanaVariables } from './promql.ts';

/** Grafana 12's classic dashboard model; newer releases migrate it on load. */
const schemaVersion = 41;
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own ${…} syntax
const datasource = { type: 'prometheus', uid: '${datasource}' };

describe('Grafana dashboard (deploy/monitoring/grafana/outpost.json)', () => {
  let dash: Dashboard;
  let promtool: string;
  let tmp: string;
  // A cold build of promtool takes several minutes on 2 cores; then instant.
  before(
    async () => {
      [dash, promtool] = await Promise.all([readDashboard(), ensurePromtool()]);
      tmp = await mkdtemp(join(tmpdir(), 'outpost-dashboard-'));
    },
    { timeout: 30 * 60_000 },
  );
  after(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  test('a classic dashboard of a current Grafana, every query on the data source variable', () => {
    assert.equal(dash.schemaVersion, schemaVersion);
    assert.match(dash.uid, /^[a-z0-9-]{1,40}$/);
    assert.ok(dash.title);
    const ds = dash.templating.list.find((v) => v.type === 'datasource');
    assert.equal(ds?.name, 'datasource');
    assert.equal(ds?.query, 'prometheus');
    for (const v of dash.templating.list.filter((x) => x.type === 'query')) {
      assert.deepEqual(v.datasource, datasource, `variable ${v.name}`);
    }
    for (const p of allPanels(dash).filter((x) => x.type !== 'row')) {
      assert.deepEqual(p.datasource, datasource, `panel ${p.id} (${p.title})`);
      assert.ok(p.targets?.length, `panel ${p.id} (${p.title}) has no query`);
      const refIds = p.targets.map((t) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `panel ${p.id}: refIds ${refIds}`);
      for (const t of p.targets) assert.deepEqual(t.datasource, datasource, `panel ${p.id} query ${t.refId}`);
    }
  });

  test('panel ids are unique; every panel lies on the 24-column grid and overlaps no other', () => {
    const panels = allPanels(dash);
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `ids ${ids}`);
    for (const p of panels) {
      const g = p.gridPos;
      assert.ok(g, `panel ${p.id} has no gridPos`);
      for (const k of ['x', 'y', 'w', 'h'] as const)
        assert.ok(Number.isInteger(g[k]) && g[k] >= 0, `panel ${p.id} ${k}`);
      assert.ok(g.w > 0 && g.h > 0 && g.x + g.w <= 24, `panel ${p.id} (${p.title}) off the grid: ${JSON.stringify(g)}`);
    }
    for (const [i, a] of panels.entries()) {
      for (const b of panels.slice(i + 1)) {
        const apart =
          a.gridPos.x + a.gridPos.w <= b.gridPos.x ||
          b.gridPos.x + b.gridPos.w <= a.gridPos.x ||
          a.gridPos.y + a.gridPos.h <= b.gridPos.y ||
          b.gridPos.y + b.gridPos.h <= a.gridPos.y;
        assert.ok(apart, `panels ${a.id} (${a.title}) and ${b.id} (${b.title}) overlap`);
      }
    }
  });

  test('every query parses: promtool check rules on them as recording rules', async () => {
    const exprs = dashboardExprs(dash);
    const rules = exprs.map((e, i) => ({ record: `dashboard:query_${i}`, expr: withoutGrafanaVariables(e.expr) }));
    const file = join(tmp, 'dashboard-queries.yaml');
    await writeFile(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
    const res = await run(promtool, ['check', 'rules', file]);
    const listed = exprs.map((e, i) => `dashboard:query_${i}: ${e.where}`).join('\n');
    assert.equal(res.code, 0, `${res.stdout}${res.stderr}\n${listed}`);
    assert.match(res.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  });

  test('the panels show the hub (fleet, polls, requests, status intake, rollouts, CA) and the agents', () => {
    const used = new Set(dashboardExprs(dash).flatMap((e) => selectors(e.expr).map((s) => s.name)));
    const expected = [
      'outpost_clusters',
      'outpost_cluster_available',
      'outpost_longpoll_waiting',
      'outpost_hub_leader',
      'outpost_http_request_duration_seconds_count',
      'outpost_http_request_duration_seconds_bucket',
      'outpost_event_loop_delay_seconds',
      'outpost_workset_clusters',
      'outpost_workset_condition',
      'outpost_work_conditions',
      'outpost_ca_expiry_timestamp_seconds',
      'outpost_certificate_expiry_seconds',
      'outpost_agent_connected',
      'outpost_status_outbox_depth',
      'outpost_agent_applies_total',
      'outpost_agent_apply_duration_seconds_bucket',
      'outpost_agent_drift_corrections_total',
      'outpost_agent_poll_duration_seconds_count',
      'outpost_agent_certificate_expiry_timestamp_seconds',
      'outpost_agent_held_deletions',
    ];
    assert.deepEqual(
      expected.filter((n) => !used.has(n)),
      [],
    );
  });
});
