// The reading of PromQL and Prometheus text the monitoring tests rely on: a selector it
// missed would let a wrong metric name through the metric-name check.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exported, selectors, withoutGrafanaVariables } from './promql.ts';

describe('reading PromQL and Prometheus text (test/monitoring/promql.ts)', () => {
  test('selectors: names with and without braces, recorded names, not functions, keywords or label lists', () => {
    const expr =
      'histogram_quantile(0.99, sum BY (le, route) (rate(outpost_http_request_duration_seconds_bucket{route!="/a/:name/sync"}[5m] offset 1h)))' +
      ' / 1e3 and on (cluster) cluster:outpost_cluster_available:max == bool 0' +
      ' unless label_replace(outpost_clusters, "x", "$1", "state", "(.*)") > sum without (pod) (up @ start())';
    assert.deepEqual(selectors(expr), [
      {
        name: 'outpost_http_request_duration_seconds_bucket',
        matchers: [{ label: 'route', op: '!=', value: '/a/:name/sync' }],
      },
      { name: 'cluster:outpost_cluster_available:max', matchers: [] },
      { name: 'outpost_clusters', matchers: [] },
      { name: 'up', matchers: [] },
    ]);
    assert.deepEqual(selectors('{__name__=~"outpost_.+",state="available"}'), [
      {
        name: undefined,
        matchers: [
          { label: '__name__', op: '=~', value: 'outpost_.+' },
          { label: 'state', op: '=', value: 'available' },
        ],
      },
    ]);
  });

  test("Grafana's variables become text PromQL parses", () => {
    assert.equal(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own ${…} syntax
      withoutGrafanaVariables('rate(x{job=~"$hub",a="${agent}"}[$__rate_interval]) + y[${__range}]'),
      'rate(x{job=~"hub",a="agent"}[5m]) + y[5m]',
    );
  });

  test('exported: names from TYPE lines (a histogram as its three series) and label values from samples', () => {
    const text = [
      '# HELP outpost_clusters Clusters by state.',
      '# TYPE outpost_clusters gauge',
      'outpost_clusters{state="available"} 2',
      'outpost_clusters{state="pending"} 0',
      '# TYPE outpost_http_request_duration_seconds histogram',
      '# TYPE outpost_longpoll_waiting gauge',
      'outpost_longpoll_waiting 3',
    ].join('\n');
    const names = exported(text);
    assert.deepEqual(
      [...names.keys()].sort(),
      [
        'outpost_clusters',
        'outpost_http_request_duration_seconds_bucket',
        'outpost_http_request_duration_seconds_count',
        'outpost_http_request_duration_seconds_sum',
        'outpost_longpoll_waiting',
      ].sort(),
    );
    assert.deepEqual([...(names.get('outpost_clusters')?.get('state') ?? [])], ['available', 'pending']);
  });
});
