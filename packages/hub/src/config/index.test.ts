import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadServeConfig, parseListen, type ServeConfig } from './index.ts';

describe('parseListen', () => {
  const good: [string, { host: string; port: number }][] = [
    ['0.0.0.0:8443', { host: '0.0.0.0', port: 8443 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    [':9000', { host: '0.0.0.0', port: 9000 }],
    ['[::1]:8443', { host: '::1', port: 8443 }],
    ['hub.example.com:443', { host: 'hub.example.com', port: 443 }],
  ];
  for (const [input, want] of good) test(`accepts ${input}`, () => assert.deepEqual(parseListen(input), want));
  for (const bad of ['8443', '127.0.0.1', '127.0.0.1:70000', '[nope]:1', 'a:b', '']) {
    test(`refuses ${JSON.stringify(bad)} with HUB_CONFIG_INVALID`, () => {
      assert.throws(
        () => parseListen(bad),
        (err: ConfigError) => err.code === 'HUB_CONFIG_INVALID',
      );
    });
  }
});

describe('loadServeConfig', () => {
  test('defaults match the SPEC', () => {
    const c = loadServeConfig([], {});
    assert.ok(c !== 'help');
    assert.equal(c.dataDir, resolve('./.outpost-hub'));
    assert.deepEqual(c.listen, { host: '0.0.0.0', port: 8443 });
    assert.equal(c.advertiseUrl, undefined);
    assert.deepEqual(c.sans, []);
    assert.ok(Object.isFrozen(c));
  });

  test('flags win over the environment, which wins over defaults', () => {
    const env = { OUTPOST_HUB_DATA_DIR: '/env/dir', OUTPOST_HUB_LISTEN: '127.0.0.1:1', OUTPOST_HUB_SANS: 'a.example' };
    const fromEnv = loadServeConfig([], env);
    assert.ok(fromEnv !== 'help');
    assert.equal(fromEnv.dataDir, '/env/dir');
    assert.equal(fromEnv.listen.port, 1);
    const fromFlags = loadServeConfig(
      ['--data-dir', '/flag/dir', '--listen', '127.0.0.1:2', '--san', 'b.example,10.0.0.1'],
      env,
    );
    assert.ok(fromFlags !== 'help');
    assert.equal(fromFlags.dataDir, '/flag/dir');
    assert.equal(fromFlags.listen.port, 2);
    assert.deepEqual(fromFlags.sans, ['a.example', 'b.example', '10.0.0.1']);
  });

  test('advertise URL is normalised to its origin and must be https', () => {
    const c = loadServeConfig(['--advertise-url', 'https://hub.example.com:8443/some/path'], {});
    assert.ok(c !== 'help');
    assert.equal(c.advertiseUrl, 'https://hub.example.com:8443');
    assert.throws(() => loadServeConfig(['--advertise-url', 'http://hub.example.com'], {}), /must use https/);
    assert.throws(() => loadServeConfig(['--advertise-url', 'not a url'], {}), /must be a URL/);
  });

  test('bad input is a ConfigError with a stable code', () => {
    for (const argv of [['--nope'], ['--san', 'bad name!'], ['--log-level', 'loud'], ['extra']]) {
      assert.throws(
        () => loadServeConfig(argv, {}),
        (err: ConfigError) => err instanceof ConfigError && err.code === 'HUB_CONFIG_INVALID',
        argv.join(' '),
      );
    }
  });

  test('--helm-path and --kustomize-path: names looked up on PATH by default; a path made absolute', () => {
    const d = loadServeConfig([], {}) as ServeConfig;
    assert.equal(d.helmPath, 'helm');
    assert.equal(d.kustomizePath, 'kustomize');
    const env = loadServeConfig([], {
      OUTPOST_HUB_HELM_PATH: '/opt/helm',
      OUTPOST_HUB_KUSTOMIZE_PATH: 'bin/kustomize',
    }) as ServeConfig;
    assert.equal(env.helmPath, '/opt/helm');
    assert.equal(env.kustomizePath, resolve('bin/kustomize'));
    const flags = loadServeConfig(['--helm-path', 'helm3', '--kustomize-path', '/usr/bin/kustomize'], {
      OUTPOST_HUB_HELM_PATH: '/opt/helm',
    }) as ServeConfig;
    assert.equal(flags.helmPath, 'helm3');
    assert.equal(flags.kustomizePath, '/usr/bin/kustomize');
  });

  test('--disconnect-grace: 30 s by default, 0 turns it off, at most 10 minutes', () => {
    const grace = (argv: string[], env: Record<string, string> = {}) => {
      const c = loadServeConfig(argv, env);
      assert.ok(c !== 'help');
      return c.disconnectGraceMs;
    };
    assert.equal(grace([]), 30_000);
    assert.equal(grace(['--disconnect-grace', '0']), 0);
    assert.equal(grace([], { OUTPOST_HUB_DISCONNECT_GRACE: '20s' }), 20_000);
    for (const bad of ['11m', 'soon', '-1s']) {
      assert.throws(
        () => loadServeConfig(['--disconnect-grace', bad], {}),
        (err: ConfigError) => err instanceof ConfigError && /--disconnect-grace/.test(err.message),
        bad,
      );
    }
  });

  test('--help', () => assert.equal(loadServeConfig(['--help'], {}), 'help'));
});
