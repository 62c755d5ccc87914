// The rules and the dashboard of deploy/monitoring ask only for series the hub and the agent
// really export, with label values those series take. The hub's come from a real
// `outpost-hub serve` process scraped on its credential-free metrics port, with a joined
// cluster, a work, a workset, one poll and one status upload of the cluster's agent, and a CA
// rotation under way, so that every fleet gauge and label the rules match on has samples.
// The agent's come from its observer (observe/), the code its listener answers /metrics
// with, with every source set: the outbox and held deletions exist only on an agent that
// delivers work, which would need a Kubernetes API server for no more than these names.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AgentObserver } from '../../packages/agent/src/observe/index.ts';
import { agentPaths } from '../../packages/shared/src/index.ts';
import { adminClient, agentClient, type HubClient, joinCluster, waitFor } from '../e2e/hub-client.ts';
import { type HubProcess, startHub } from '../e2e/hub-process.ts';
import { dashboardExprs, readDashboard, readRules } from './kit.ts';
import { type Exported, exported, selectors } from './promql.ts';

/** What a leading agent that delivers work exports, from the code that writes its /metrics. */
function agentMetrics(): string {
  const observer = new AgentObserver({ recentMs: 60_000, role: 'leading' });
  observer.use({
    identity: () => ({ cluster: 'edge-1', hubUrl: 'https://hub.example:8443', serial: '01' }),
    outboxDepth: () => 0,
    heldDeletions: () => 0,
    certificate: () => ({ notAfter: new Date(Date.now() + 14 * 86_400_000), renewAt: new Date() }),
  });
  observer.hubAnswered('poll', 1);
  observer.hubFailed('poll', 'HUB_UNREACHABLE', 'connection refused', 0.1);
  for (const result of ['applied', 'failed', 'refused', 'error'] as const) observer.applied(result, 0.2);
  observer.corrections('uid-1', 1);
  return observer.metrics();
}

const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' } });

describe('metric names and label values in deploy/monitoring (real hub process, agent observer)', () => {
  let hub: HubProcess | undefined;
  let admin: HubClient | undefined;
  let agent: HubClient | undefined;
  let names: Exported;
  /** The rules' recorded series, each with the one series it is made from when it has one. */
  let recorded: Map<string, string | undefined>;
  let exprs: { where: string; expr: string }[];

  before(
    async () => {
      hub = await startHub({ args: ['--metrics-listen', '127.0.0.1:0'] });
      const url = /metrics:\s+(http:\/\/\S+)/.exec(hub.output())?.[1];
      assert.ok(url, hub.output());
      admin = await adminClient(hub);
      const joined = await joinCluster(hub, admin, 'edge-1');
      agent = agentClient(hub, joined);
      const put = async (path: string, json: unknown) => {
        const res = await (admin as HubClient).call('PUT', path, { json });
        assert.ok(res.status === 200 || res.status === 201, `PUT ${path}: ${res.status} ${res.text}`);
      };
      await put('/api/v1/clusters/edge-1/works/app', {
        apiVersion: 'work.open-cluster-management.io/v1',
        kind: 'ManifestWork',
        metadata: { name: 'app' },
        spec: { workload: { manifests: [cm('app')] } },
      });
      await put('/api/v1/placements/all', { metadata: { name: 'all' }, spec: {} });
      await put('/api/v1/worksets/web', {
        apiVersion: 'work.open-cluster-management.io/v1alpha1',
        kind: 'ManifestWorkReplicaSet',
        metadata: { name: 'web', namespace: 'default' },
        spec: { manifestWorkTemplate: { workload: { manifests: [cm('web')] } }, placementRefs: [{ name: 'all' }] },
      });
      // The agent's two routes: a first poll (answered at once with a request for the
      // inventory) and a status upload, whatever the hub answers it.
      const poll = await agent.post(agentPaths.sync('edge-1'), { revision: 0 });
      assert.equal(poll.status, 200, poll.text);
      await agent.post(agentPaths.status('edge-1'), { reports: [] });
      const rotate = await admin.post('/api/v1/ca/rotate');
      assert.equal(rotate.status, 200, rotate.text);
      // The fleet gauges are a snapshot at most 5 s old: wait for one taken after all that.
      const text = await waitFor(
        'a /metrics snapshot with the cluster, the work, the workset and both CAs',
        async () => {
          const body = await (await fetch(url)).text();
          const ready = [
            'outpost_cluster_available{cluster="edge-1"}',
            'outpost_certificate_expiry_seconds{cluster="edge-1"}',
            'outpost_work_applied{cluster="edge-1",work="app"}',
            'outpost_workset_condition{namespace="default",workset="web"',
            'outpost_ca_expiry_timestamp_seconds{role="previous"}',
            'route="/agent/v1/clusters/:name/status"',
          ].every((s) => body.includes(s));
          return ready ? body : undefined;
        },
        30_000,
      );
      names = exported(`${text}\n${agentMetrics()}`);
      const groups = await readRules();
      recorded = new Map(
        groups.flatMap((g) =>
          g.rules.flatMap((r) => {
            const from = new Set(selectors(r.expr).map((x) => x.name));
            return r.record ? [[r.record, from.size === 1 ? [...from][0] : undefined] as const] : [];
          }),
        ),
      );
      exprs = [
        ...groups.flatMap((g) =>
          g.rules.map((r) => ({ where: `rule ${r.record ?? r.alert} (${g.name})`, expr: r.expr })),
        ),
        ...dashboardExprs(await readDashboard()),
      ];
    },
    { timeout: 120_000 },
  );
  after(async () => {
    await agent?.close();
    await admin?.close();
    await hub?.stop();
  });

  test('every series named is one the hub or the agent exports, or one the rules record', () => {
    const unknown = exprs.flatMap(({ where, expr }) =>
      selectors(expr)
        .map((s) => s.name)
        .filter((n): n is string => n !== undefined && !names.has(n) && !recorded.has(n))
        .map((n) => `${where}: ${n}`),
    );
    assert.deepEqual(unknown, []);
    assert.ok(names.has('outpost_status_outbox_depth') && names.has('outpost_clusters'), 'both sides were read');
  });

  test('every label value matched on is one the series takes (labels the scrape adds, such as job, aside)', () => {
    const wrong: string[] = [];
    for (const { where, expr } of exprs) {
      for (const s of selectors(expr)) {
        // A recorded series keeps the labels (and their values) of the series it is made from.
        const name = s.name === undefined ? undefined : recorded.has(s.name) ? recorded.get(s.name) : s.name;
        const labels = name === undefined ? undefined : names.get(name);
        for (const m of s.matchers) {
          const values = labels?.get(m.label);
          // A label the process does not write (job, instance, pod) or a Grafana variable.
          if (!values || m.value.includes('$')) continue;
          // Literal alternatives only: `a|b`, not a pattern.
          const wanted = m.op.endsWith('~') ? m.value.split('|') : [m.value];
          if (wanted.some((w) => /[\\.*+?()[\]{}^$]/.test(w))) continue;
          for (const w of wanted) {
            if (!values.has(w))
              wrong.push(`${where}: ${s.name}{${m.label}${m.op}"${m.value}"}: no ${w} in ${[...values]}`);
          }
        }
      }
    }
    assert.deepEqual(wrong, []);
  });
});
