import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import test from 'node:test';
import { kekFrom } from '../pki/vault.ts';
import { scrub } from './git.ts';
import {
  openCredentials,
  openWebhookSecret,
  publicSpec,
  type SecretBox,
  sealSpec,
  secretBox,
  secretTexts,
  tokenUsername,
  webhookSigned,
} from './secrets.ts';
import type { GitRepoSpec } from './types.ts';
import { validateGitRepo } from './validate.ts';

const password = 'pa55-w0rd-not-in-any-answer';
const hookSecret = 'webhook-secret-0123456789';
const box = secretBox(kekFrom(randomBytes(32)));

const base = (spec: Record<string, unknown>) => ({
  metadata: { name: 'apps' },
  spec: { repo: 'https://git.example.com/fleet.git', placementRef: { name: 'all' }, ...spec },
});
const valid = (spec: Record<string, unknown>): GitRepoSpec => {
  const v = validateGitRepo(base(spec));
  assert.ok(v.ok, JSON.stringify(v));
  return (v as { value: { spec: GitRepoSpec } }).value.spec;
};
const problems = (spec: Record<string, unknown>) => {
  const v = validateGitRepo(base(spec));
  assert.equal(v.ok, false);
  const text = v.ok ? '' : v.error.details.map((d) => `${d.field}: ${d.message}`).join('\n');
  // A refusal never repeats a secret it was given.
  assert.ok(!text.includes(password) && !v.ok && !v.error.message.includes(password), text);
  return text;
};

test('credentials: basic, token, ssh, or {set: true}; Fleet secret references are refused by name', () => {
  assert.deepEqual(valid({ credentials: { username: 'bot', password } }).credentials, {
    type: 'basic',
    username: 'bot',
    password,
  });
  assert.deepEqual(valid({ credentials: { token: password } }).credentials, { type: 'token', token: password });
  assert.deepEqual(valid({ credentials: { type: 'basic', set: true } }).credentials, { type: 'basic', set: true });
  // A merge patch onto the shown form: the new values count.
  assert.deepEqual(valid({ credentials: { set: true, token: password } }).credentials, {
    type: 'token',
    token: password,
  });
  assert.match(problems({ credentials: { username: 'bot' } }), /spec\.credentials\.password: is required/);
  assert.match(
    problems({ credentials: { type: 'token', username: 'bot', password } }),
    /spec\.credentials\.type: is token/,
  );
  assert.match(problems({ credentials: { username: 'bot', password: `a\n${password}` } }), /must be one line/);
  assert.match(problems({ credentials: { password, secret: password } }), /spec\.credentials\.secret: unknown field/);
  // ssh: a private key and a pinned known_hosts, both required.
  const sshKey = `-----BEGIN OPENSSH PRIVATE KEY-----\n${password}\n-----END OPENSSH PRIVATE KEY-----\n`;
  const known = '[git.example.com]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE5x';
  assert.deepEqual(
    valid({
      repo: 'ssh://git@git.example.com:2222/fleet.git',
      credentials: { sshPrivateKey: sshKey, knownHosts: known },
    }).credentials,
    {
      type: 'ssh',
      sshPrivateKey: sshKey,
      knownHosts: known,
    },
  );
  assert.match(problems({ credentials: { sshPrivateKey: sshKey } }), /spec\.credentials\.knownHosts: is required/);
  assert.match(
    problems({ credentials: { sshPrivateKey: sshKey, knownHosts: '# nothing pinned\n' } }),
    /must pin at least one host key/,
  );
  assert.match(
    problems({ credentials: { sshPrivateKey: sshKey, knownHosts: 'git.example.com yes' } }),
    /must be known_hosts lines/,
  );
  assert.match(problems({ credentials: { sshPrivateKey: password, knownHosts: known } }), /must be a private key/);
  // A key with a passphrase (an OpenSSH key whose cipher is not "none"; a PEM ENCRYPTED one).
  const head = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    Buffer.from([0, 0, 0, 10]),
    Buffer.from('aes256-ctr'),
  ]);
  const locked = `-----BEGIN OPENSSH PRIVATE KEY-----\n${head.toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`;
  assert.match(
    problems({ credentials: { sshPrivateKey: locked, knownHosts: known } }),
    /UNSUPPORTED_FIELD: keys with a passphrase/,
  );
  const pem =
    '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n';
  assert.match(problems({ credentials: { sshPrivateKey: pem, knownHosts: known } }), /keys with a passphrase/);

  assert.match(problems({ clientSecretName: 'x' }), /spec\.clientSecretName: UNSUPPORTED_FIELD/);
  assert.match(
    problems({ credentials: { username: 'u', passwordFile: '/etc/shadow' } }),
    /spec\.credentials\.passwordFile: UNSUPPORTED_FIELD: give the secret itself/,
  );
  assert.match(problems({ repo: 'ssh://git@example.com/x.git' }), /ssh repositories need spec\.credentials/);
  assert.match(problems({ credentials: { set: false } }), /spec\.credentials\.set: must be true/);
});

test('webhook: {secret} of 16 characters or more, or {set: true}', () => {
  assert.deepEqual(valid({ webhook: { secret: hookSecret } }).webhook, { secret: hookSecret });
  assert.deepEqual(valid({ webhook: { set: true } }).webhook, { set: true });
  assert.match(
    problems({ webhook: { secret: 'short' } }),
    /spec\.webhook\.secret: must be one line of 16 to 1024 characters, a random string \(got 5\)/,
  );
  assert.match(problems({ webhook: { secret: hookSecret, url: 'x' } }), /spec\.webhook\.url: unknown field/);
});

test('sealed at rest, bound to the GitRepo; shown only as set; written again unchanged it is the same value', () => {
  const given = valid({ credentials: { username: 'bot', password }, webhook: { secret: hookSecret } });
  const stored = sealSpec(given, undefined, box, 'default', 'apps');
  const text = JSON.stringify(stored);
  assert.ok(!text.includes(password) && !text.includes(hookSecret), text);
  assert.match((stored.credentials as { sealed: string }).sealed, /^v1\.sha256:[0-9a-f]{16}\./);
  assert.deepEqual(openCredentials(stored, box, 'default', 'apps'), { type: 'basic', username: 'bot', password });
  assert.equal(openWebhookSecret(stored, box, 'default', 'apps'), hookSecret);
  // Another GitRepo's name, or another key: not readable.
  assert.throws(() => openCredentials(stored, box, 'default', 'other'), { code: 'GITREPO_SECRET_UNREADABLE' });
  assert.throws(() => openCredentials(stored, secretBox(kekFrom(randomBytes(32))), 'default', 'apps'), {
    code: 'GITREPO_SECRET_UNREADABLE',
  });
  // Shown: the type and that they are set, nothing else.
  const shown = publicSpec(stored);
  assert.deepEqual(shown.credentials, { type: 'basic', set: true });
  assert.deepEqual(shown.webhook, { set: true });
  assert.ok(!JSON.stringify(shown).includes('sealed'));
  // The same secrets again: the very same stored value (an apply changes nothing).
  assert.deepEqual(sealSpec(given, stored, box, 'default', 'apps'), stored);
  // The shown form sent back keeps them; new ones replace them; none removes them.
  assert.deepEqual(
    sealSpec(valid({ credentials: { set: true }, webhook: { set: true } }), stored, box, 'default', 'apps'),
    stored,
  );
  const other = sealSpec(valid({ credentials: { token: password } }), stored, box, 'default', 'apps');
  assert.deepEqual(openCredentials(other, box, 'default', 'apps'), { type: 'token', token: password });
  assert.equal(sealSpec(valid({}), stored, box, 'default', 'apps').credentials, undefined);
});

test('writes that cannot be sealed or kept are refused, naming the field', () => {
  const refuses = (
    spec: Record<string, unknown>,
    stored: GitRepoSpec | undefined,
    re: RegExp,
    b: SecretBox | null = box,
  ) =>
    assert.throws(
      () => sealSpec(valid(spec), stored, b ?? undefined, 'default', 'apps'),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'GITREPO_INVALID');
        assert.match(e.message, re);
        assert.ok(!e.message.includes(password));
        return true;
      },
    );
  refuses({ credentials: { set: true } }, undefined, /none are stored/);
  refuses({ webhook: { set: true } }, undefined, /none is stored/);
  refuses({ credentials: { password, username: 'u' }, repo: 'file:///srv/x.git' }, undefined, /file:\/\/ repository/);
  refuses({ credentials: { password, username: 'u' }, repo: 'http://git.example.com/x.git' }, undefined, /https/);
  refuses({ credentials: { password, username: 'u' } }, undefined, /no key/, null);
  const ssh = {
    sshPrivateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n`,
    knownHosts: 'h ssh-ed25519 AAAA',
  };
  refuses({ credentials: ssh }, undefined, /ssh credentials need an ssh:\/\/ or USER@HOST:PATH repository/);
  refuses(
    { credentials: { token: password }, repo: 'git@git.example.com:fleet.git' },
    undefined,
    /an ssh repository needs/,
  );
  assert.ok(sealSpec(valid({ credentials: ssh, repo: 'git@git.example.com:fleet.git' }), undefined, box, 'd', 'n'));
  const stored = sealSpec(valid({ credentials: { token: password } }), undefined, box, 'default', 'apps');
  refuses({ credentials: { type: 'basic', set: true } }, stored, /of type token/);
  // Kept credentials never follow the repository to another host, scheme, user or port.
  for (const repo of [
    'https://attacker.example/fleet.git',
    'https://git.example.com:8443/fleet.git',
    'http://127.0.0.1/fleet.git',
  ]) {
    refuses(
      { credentials: { set: true }, repo },
      stored,
      /the repository moved from https:\/\/git\.example\.com to .*give the credentials again/,
    );
  }
  assert.ok(
    sealSpec(
      valid({ credentials: { set: true }, repo: 'https://git.example.com/other.git' }),
      stored,
      box,
      'default',
      'apps',
    ),
  );
  // Sealed for one host, they do not open for another (the host is part of what was sealed).
  assert.throws(
    () => openCredentials({ ...stored, repo: 'https://attacker.example/fleet.git' }, box, 'default', 'apps'),
    { code: 'GITREPO_SECRET_UNREADABLE' },
  );
  // A name that merely starts with 127. is not this machine.
  refuses({ credentials: { token: password }, repo: 'http://127.0.0.1.attacker.example/x.git' }, undefined, /https/);
  // http:// to this machine is taken (a forge on loopback).
  assert.ok(
    sealSpec(
      valid({ credentials: { token: password }, repo: 'http://127.0.0.1:8080/x.git' }),
      undefined,
      box,
      'd',
      'n',
    ),
  );
});

test('webhook signatures: GitHub, Gitea and GitLab; bad, missing and a changed body refused', () => {
  const body = Buffer.from('{"ref":"refs/heads/main"}');
  const hmac = (b: Buffer, s = hookSecret) => createHmac('sha256', s).update(b).digest('hex');
  assert.ok(webhookSigned({ 'x-hub-signature-256': `sha256=${hmac(body)}` }, body, hookSecret));
  assert.ok(webhookSigned({ 'x-gitea-signature': hmac(body) }, body, hookSecret));
  assert.ok(webhookSigned({ 'x-gitlab-token': hookSecret }, body, hookSecret));
  assert.ok(!webhookSigned({}, body, hookSecret));
  assert.ok(!webhookSigned({ 'x-hub-signature-256': `sha256=${hmac(body, 'another-secret-0123')}` }, body, hookSecret));
  assert.ok(!webhookSigned({ 'x-hub-signature-256': hmac(body) }, body, hookSecret));
  assert.ok(!webhookSigned({ 'x-hub-signature-256': 'sha256=zz' }, body, hookSecret));
  assert.ok(!webhookSigned({ 'x-gitea-signature': hmac(body).slice(2) }, body, hookSecret));
  assert.ok(!webhookSigned({ 'x-gitlab-token': `${hookSecret}x` }, body, hookSecret));
  // A signature replayed with another body.
  const changed = Buffer.from('{"ref":"refs/heads/evil"}');
  assert.ok(!webhookSigned({ 'x-hub-signature-256': `sha256=${hmac(body)}` }, changed, hookSecret));
  assert.ok(!webhookSigned({ 'x-gitea-signature': hmac(body) }, changed, hookSecret));
});

test("git's output is scrubbed of the credentials in every form they could take", () => {
  const texts = secretTexts({ type: 'basic', username: 'bot', password: 'p@ss word/1' });
  const said = `fatal: https://bot:p%40ss%20word%2F1@x/ Authorization: Basic ${Buffer.from('bot:p@ss word/1').toString('base64')} p@ss word/1`;
  const out = scrub(said, texts);
  assert.ok(!out.includes('p@ss') && !out.includes('p%40ss') && !out.includes('Ym90'), out);
  assert.ok(
    secretTexts({ type: 'token', token: password }).includes(
      Buffer.from(`${tokenUsername}:${password}`).toString('base64'),
    ),
  );
});
