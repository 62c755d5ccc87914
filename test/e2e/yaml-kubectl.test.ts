// The hub's YAML reader against the real kubectl: every scalar kind a manifest may carry
// (octal modes, YAML 1.1 booleans, underscores, timestamps, floats, keys that are not
// strings) must come out as `kubectl create --dry-run=client -o json` reads it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseYamlDocuments } from '../../packages/hub/src/parse/index.ts';
import { ensureKubeBinaries, type KubeCluster, startCluster } from '../kube/index.ts';

const scalars = [
  '0755',
  '0400',
  '-0755',
  '0o17',
  '0x1F',
  '0b101',
  '+12',
  '1_000',
  '09',
  '08x',
  '1e3',
  '1e400',
  '.5',
  '1.5',
  '1.0',
  'yes',
  'No',
  'on',
  'OFF',
  'Y',
  'true',
  'False',
  '~',
  'null',
  '',
  '1:20',
  '2001-12-14',
  '2001-12-14T21:59:43.10Z',
  '"0755"',
  "'yes'",
  '!!str 12',
  '!!int "7"',
  '12345678901',
  '-1',
  'plain text',
];

const manifest = `apiVersion: v1
kind: ConfigMap
metadata:
  name: scalars
data:
${scalars.map((s, i) => `  k${i}: ${s}`).join('\n')}
  yes: key-yes
  3: key-three
  0x10: key-hex
`;

describe('YAML scalars as kubectl reads them', { timeout: 120_000 }, () => {
  let cluster: KubeCluster;
  let kubectl: string;
  let dir: string;
  before(async () => {
    kubectl = (await ensureKubeBinaries()).kubectl;
    cluster = await startCluster();
    dir = await mkdtemp(join(tmpdir(), 'outpost-yaml-kubectl-'));
  });
  after(async () => {
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('kubectl create --dry-run=client -o json and the hub read the same values', async () => {
    const file = join(dir, 'scalars.yaml');
    await writeFile(file, manifest);
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        kubectl,
        [
          '--kubeconfig',
          cluster.kubeconfigPath,
          'create',
          '--dry-run=client',
          '--validate=false',
          '-o',
          'json',
          '-f',
          file,
        ],
        (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout)),
      ),
    );
    const theirs = (JSON.parse(out) as { data: Record<string, unknown> }).data;
    const [ours] = parseYamlDocuments(manifest, { maxBytes: 1 << 20 }) as [{ data: Record<string, unknown> }];
    assert.deepEqual(ours.data, theirs);
    // The cases the issue names, spelled out.
    assert.equal(ours.data.k0, 493);
    assert.equal(ours.data.k1, 256);
    assert.equal(ours.data.k15, true);
    assert.equal(ours.data.k18, false);
  });
});
