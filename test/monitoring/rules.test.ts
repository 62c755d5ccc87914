// deploy/monitoring/prometheus/*-rules.yaml: `promtool check rules` (with its linter)
// and `promtool test rules` on the unit tests in rules/, whose input series carry the hub's
// and the agent's real metric names (metric-names.test.ts checks those against a running
// hub and the agent's /metrics text). Every alert carries a severity, a summary, a description and a
// runbook_url to a section of deploy/README.md that exists, and has a unit test in which it
// fires and one in which it must stay silent.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { run } from '../kube/run.ts';
import { ensurePromtool } from '../prometheus/index.ts';
import { readRules, readUnitTests, repo, rulesFiles, unitTestDir, unitTestFiles } from './kit.ts';

const runbookBase = 'https://github.com/outpost-dev/outpost/blob/main/deploy/README.md#';

/** GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces as dashes. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

describe('Prometheus rules (deploy/monitoring/prometheus)', () => {
  let promtool: string;
  // A cold build of promtool takes several minutes on 2 cores; then instant.
  before(
    async () => {
      promtool = await ensurePromtool();
    },
    { timeout: 30 * 60_000 },
  );

  test('promtool check rules: valid, with no lint finding', async () => {
    const res = await run(promtool, ['check', 'rules', '--lint=all', '--lint-fatal', ...rulesFiles]);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.equal(res.stdout.match(/SUCCESS: \d+ rules found/g)?.length, rulesFiles.length, res.stdout);
  });

  for (const file of unitTestFiles) {
    test(`promtool test rules rules/${file}`, async () => {
      const res = await run(promtool, ['test', 'rules', join(unitTestDir, file)]);
      assert.equal(res.code, 0, res.stdout + res.stderr);
      assert.match(res.stdout, /SUCCESS/);
    });
  }

  test('every alert has a severity, a summary, a description and a runbook section of deploy/README.md', async () => {
    const readme = await readFile(join(repo, 'deploy/README.md'), 'utf8');
    const anchors = new Set([...readme.matchAll(/^#+ (.+)$/gm)].map((m) => anchor(m[1] as string)));
    const alerts = (await readRules()).flatMap((g) => g.rules).filter((r) => r.alert);
    assert.ok(alerts.length > 0);
    for (const a of alerts) {
      assert.match(a.labels?.severity ?? '', /^(critical|warning|info)$/, `${a.alert}: severity`);
      assert.ok(a.annotations?.summary && a.annotations.description, `${a.alert}: summary and description`);
      const url = a.annotations.runbook_url ?? '';
      assert.equal(url, runbookBase + (a.alert as string).toLowerCase(), `${a.alert}: runbook_url`);
      assert.ok(anchors.has(url.slice(runbookBase.length)), `${a.alert}: deploy/README.md has no section for it`);
    }
  });

  test('every alert fires in a unit test and is expected silent in another', async () => {
    const alerts = (await readRules()).flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
    const cases = (await readUnitTests()).flatMap(([, u]) => u.tests.flatMap((t) => t.alert_rule_test ?? []));
    for (const alert of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      assert.ok(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${alert}: no unit test expects it to fire`,
      );
      assert.ok(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${alert}: no unit test expects it silent`,
      );
    }
  });

  test('the unit tests load the rule file and evaluate recording groups before alerting ones', async () => {
    const groups = (await readRules()).map((g) => ({
      name: g.name,
      recording: g.rules.every((r) => r.record),
    }));
    const order = [...groups.filter((g) => g.recording), ...groups.filter((g) => !g.recording)].map((g) => g.name);
    for (const [file, u] of await readUnitTests()) {
      assert.deepEqual(
        u.rule_files.map((f) => join(unitTestDir, f)),
        rulesFiles,
        `${file}: rule_files`,
      );
      // promtool orders groups at random unless told: an alert would see a recorded series
      // one evaluation late in some runs.
      assert.deepEqual(u.group_eval_order, order, `${file}: group_eval_order`);
    }
  });
});
