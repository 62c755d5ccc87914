// The rules as the charts ship them: each chart's files/ holds a copy of its rule file
// (deploy/render.sh writes it; a chart reads only its own files), and with the value set the
// chart renders a prometheus-operator PrometheusRule whose spec is that file's groups as they
// are, with no Helm templating of the alerts' own `{{ $labels… }}`.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { before, describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { ensureHelm } from '../helm/index.ts';
import { runOk } from '../kube/run.ts';
import { repo, rulesFiles } from './kit.ts';

const charts = [
  { chart: 'outpost-hub', rules: rulesFiles[0] as string, value: 'metrics.prometheusRule' },
  { chart: 'outpost-agent', rules: rulesFiles[1] as string, value: 'prometheusRule' },
];

describe('the rules in the charts (PrometheusRule)', () => {
  let helm: string;
  // A cold build of helm takes a few minutes on 2 cores; then instant.
  before(
    async () => {
      helm = await ensureHelm();
    },
    { timeout: 30 * 60_000 },
  );

  for (const { chart, rules, value } of charts) {
    const dir = join(repo, 'deploy/charts', chart);

    test(`${chart}: files/ holds the same ${basename(rules)} (else run deploy/render.sh)`, async () => {
      assert.equal(await readFile(join(dir, 'files', basename(rules)), 'utf8'), await readFile(rules, 'utf8'));
    });

    test(`${chart}: ${value}.enabled renders the rule file's groups as a PrometheusRule; off by default`, async () => {
      const render = async (...set: string[]) => {
        const out = await runOk(helm, [
          'template',
          chart,
          dir,
          '--namespace',
          'mon',
          ...set.flatMap((s) => ['--set', s]),
        ]);
        return parseAllDocuments(out)
          .map((d) => d.toJS() as { kind?: string; metadata: { labels: Record<string, string> }; spec: unknown })
          .filter((o) => o?.kind === 'PrometheusRule');
      };
      assert.deepEqual(await render(), []);
      const [rule, ...more] = await render(`${value}.enabled=true`, `${value}.labels.release=prom`);
      assert.equal(more.length, 0);
      assert.equal(rule?.metadata.labels.release, 'prom');
      assert.equal(rule?.metadata.labels['app.kubernetes.io/name'], chart);
      assert.deepEqual(rule?.spec, parse(await readFile(rules, 'utf8')));
    });
  }
});
