// A GitRepo's write-only secrets: spec.credentials (a private repository's) and
// spec.webhook.secret (its push webhook's). A client gives them in the clear; the API seals
// them (AES-256-GCM under the hub's key-encryption key, pki/vault.ts's scheme, bound to the
// GitRepo's namespace, name and field) before the store sees them; every answer shows only
// `{type, set: true}` / `{set: true}`; the controller unseals them for one git command at a
// time (git.ts). A write that sends the shown form back keeps what is stored, so
// `get -o yaml | edit | apply` and a PATCH that does not name them keep them; a PUT without
// them (a file that has none) removes them, as a PUT replaces the whole spec.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { OutpostError } from '@outpost/shared';
import { type Kek, seal, unseal } from '../pki/vault.ts';
import { isObject, type Problems } from '../placement/validate.ts';
import type { CredentialsField, CredentialsType, GitCredentials, GitRepoSpec, WebhookField } from './types.ts';

/** The user name a `{token}` is sent with (GitHub, GitLab and Gitea take a token as the
 *  password of HTTP basic auth with any user name; GitHub's app tokens need this one). */
export const tokenUsername = 'x-access-token';

/** Seals and unseals GitRepo secrets under the hub's key-encryption key. */
export interface SecretBox {
  seal(label: string, text: string): string;
  unseal(label: string, sealed: string): string;
}

const domain = 'outpost-gitrepo';

export function secretBox(kek: Kek): SecretBox {
  return {
    seal: (label, text) => seal(kek, label, text, domain),
    unseal(label, sealed) {
      try {
        return unseal(kek, label, sealed, domain);
      } catch {
        // Never the value; the fingerprints only say which key is missing.
        throw new OutpostError(
          'GITREPO_SECRET_UNREADABLE',
          `a sealed secret of ${label} cannot be unsealed with this hub's key (${kek.fingerprint}): ` +
            'give every hub the same key file, or write the secret again',
          500,
        );
      }
    },
  };
}

/**
 * Where credentials may go: the repository URL's scheme, user, host and port (ssh's scp form
 * USER@HOST:PATH as ssh://USER@HOST). Sealed with the credentials (part of their label), so
 * that credentials given for one host are never sent to another after an edit of spec.repo.
 */
export function repoOrigin(repo: string): string {
  const scp = /^([\w.-]+)@([\w.-]+):/.exec(repo);
  if (scp && !repo.startsWith('ssh://')) return `ssh://${scp[1]}@${scp[2]}`;
  try {
    const u = new URL(repo);
    return `${u.protocol}//${u.username ? `${u.username}@` : ''}${u.host}`;
  } catch {
    return repo;
  }
}

const credentialsLabel = (namespace: string, name: string, repo: string) =>
  `gitrepos/${namespace}/${name}/credentials@${repoOrigin(repo)}`;
const webhookLabel = (namespace: string, name: string) => `gitrepos/${namespace}/${name}/webhook`;

const line = /^[^\r\n\0]+$/;

/** References to secrets elsewhere: refused by name. */
const references = ['passwordFile', 'tokenFile', 'sshPrivateKeyFile', 'knownHostsFile', 'secretName', 'secretRef'];

/** spec.credentials as written: one of the clear forms, or `{type?, set: true}` (keep). */
export function credentialsField(v: unknown, p: Problems): CredentialsField | undefined {
  const f = 'spec.credentials';
  if (!isObject(v)) {
    p.add(f, 'must be {username, password}, {token} or {sshPrivateKey, knownHosts}');
    return undefined;
  }
  const type = v.type;
  if (type !== undefined && type !== 'basic' && type !== 'token' && type !== 'ssh') {
    p.add(`${f}.type`, 'must be basic, token or ssh');
    return undefined;
  }
  // File references would let an API user make the hub read (and send away) any file it can.
  for (const k of references) {
    if (k in v) p.add(`${f}.${k}`, 'UNSUPPORTED_FIELD: give the secret itself (stored sealed), not a reference');
  }
  const given = ['username', 'password', 'token', 'sshPrivateKey', 'knownHosts'].filter((k) => k in v);
  // `set` beside new values (a merge patch onto the shown form): the new values count.
  if (v.set !== undefined && given.length === 0) {
    p.unknownFields(v, ['type', 'set', ...references], f);
    if (v.set !== true) p.add(`${f}.set`, 'must be true (keeps the stored credentials)');
    return type ? { type, set: true } : { set: true };
  }
  const str = (k: string, max: number, oneLine: boolean) => {
    const s = v[k];
    if (typeof s !== 'string' || s === '') p.add(`${f}.${k}`, 'is required: a non-empty string');
    else if (s.length > max) p.add(`${f}.${k}`, `must be at most ${max} characters`);
    else if (oneLine && !line.test(s)) p.add(`${f}.${k}`, 'must be one line');
    else return s;
    return undefined;
  };
  const form: CredentialsType =
    given.includes('sshPrivateKey') || given.includes('knownHosts')
      ? 'ssh'
      : given.includes('token')
        ? 'token'
        : given.length
          ? 'basic'
          : (type ?? 'basic');
  if (type !== undefined && type !== form) {
    p.add(`${f}.type`, `is ${type}, and the fields given are those of ${form} credentials`);
    return undefined;
  }
  if (form === 'ssh') {
    p.unknownFields(v, ['type', 'set', 'sshPrivateKey', 'knownHosts', ...references], f);
    const key = str('sshPrivateKey', 16 * 1024, false);
    if (key !== undefined && !privateKeyText.test(`${key.trim()}\n`)) {
      p.add(`${f}.sshPrivateKey`, 'must be a private key in PEM or OpenSSH form, without a passphrase');
      return undefined;
    }
    if (key !== undefined && encryptedKey(key)) {
      p.add(`${f}.sshPrivateKey`, 'UNSUPPORTED_FIELD: keys with a passphrase are not supported (the hub never asks)');
      return undefined;
    }
    const hosts = str('knownHosts', 64 * 1024, false);
    if (hosts !== undefined) {
      const why = knownHostsProblem(hosts);
      if (why) {
        p.add(`${f}.knownHosts`, why);
        return undefined;
      }
    }
    return key && hosts ? { type: 'ssh', sshPrivateKey: key, knownHosts: hosts } : undefined;
  }

  if (form === 'token') {
    p.unknownFields(v, ['type', 'set', 'token', ...references], f);
    const token = str('token', 4096, true);
    return token ? { type: 'token', token } : undefined;
  }
  p.unknownFields(v, ['type', 'set', 'username', 'password', ...references], f);
  const username = str('username', 256, true);
  const password = str('password', 4096, true);
  return username && password ? { type: 'basic', username, password } : undefined;
}

const privateKeyText = /^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\r?\n[\s\S]+-----END [A-Z0-9 ]*PRIVATE KEY-----\n$/;

/** Whether a private key is encrypted (a passphrase): PEM's ENCRYPTED headers, or an
 *  OpenSSH key whose cipher is not "none". */
function encryptedKey(key: string): boolean {
  if (/BEGIN ENCRYPTED PRIVATE KEY|Proc-Type: 4,ENCRYPTED/.test(key)) return true;
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(key);
  if (!m) return false;
  const raw = Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64');
  const magic = 'openssh-key-v1\0';
  if (raw.subarray(0, magic.length).toString('latin1') !== magic || raw.length < magic.length + 4) return false;
  const len = raw.readUInt32BE(magic.length);
  return raw.subarray(magic.length + 4, magic.length + 4 + len).toString('latin1') !== 'none';
}

/**
 * Why `text` is no pinned known_hosts (ssh's format: `HOSTS KEYTYPE BASE64 [COMMENT]` lines,
 * `#` comments, `@cert-authority` lines); undefined when it is one. Required, so that the
 * server's key is checked (StrictHostKeyChecking=yes), never learnt on first use.
 */
function knownHostsProblem(text: string): string | undefined {
  if (text.includes('\0')) return 'must be known_hosts text';
  let keys = 0;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const words = line.split(/\s+/);
    if (words[0] === '@revoked') continue;
    const [, type, key] = words[0] === '@cert-authority' ? words.slice(1) : words;
    if (!type || !key || !/^(ssh-|ecdsa-|sk-)[\w@.-]+$/.test(type) || !/^[A-Za-z0-9+/]+={0,2}$/.test(key)) {
      return 'must be known_hosts lines: HOST KEYTYPE BASE64KEY (ssh-keyscan HOST prints them; check them out of band)';
    }
    keys++;
  }
  return keys === 0 ? 'must pin at least one host key (HOST KEYTYPE BASE64KEY)' : undefined;
}

/** spec.webhook as written: `{secret}`, or `{set: true}` (keep). */
export function webhookField(v: unknown, p: Problems): WebhookField | undefined {
  const f = 'spec.webhook';
  if (!isObject(v)) {
    p.add(f, 'must be {secret: TEXT}');
    return undefined;
  }
  if (v.set !== undefined && !('secret' in v)) {
    p.unknownFields(v, ['set'], f);
    if (v.set !== true) p.add(`${f}.set`, 'must be true (keeps the stored secret)');
    return { set: true };
  }
  p.unknownFields(v, ['set', 'secret'], f);
  const s = v.secret;
  if (typeof s !== 'string' || s.length < 16 || s.length > 1024 || !line.test(s)) {
    p.add(
      `${f}.secret`,
      typeof s === 'string'
        ? `must be one line of 16 to 1024 characters, a random string (got ${s.length}${line.test(s) ? '' : ', not one line'})`
        : 'is required: one line of 16 to 1024 characters (a random string)',
    );
    return undefined;
  }
  return { secret: s };
}

/** What a GitRepo's spec shows: its secrets as `{type, set: true}` and `{set: true}`. */
export function publicSpec(spec: GitRepoSpec): GitRepoSpec {
  if (!spec.credentials && !spec.webhook) return spec;
  const out = { ...spec };
  if (spec.credentials) {
    const type = (spec.credentials as { type?: CredentialsType }).type;
    out.credentials = type ? { type, set: true } : { set: true };
  }
  if (spec.webhook) out.webhook = { set: true };
  return out;
}

/** A write refused for its secrets (400, GITREPO_INVALID, naming the field, never a value). */
function refused(field: string, message: string): OutpostError {
  return new OutpostError('GITREPO_INVALID', `GitRepo is invalid: ${field}: ${message}`, 400, [{ field, message }]);
}

/** ssh://… or the scp form USER@HOST:PATH (validate.ts checked which). */
export const isSshUrl = (repo: string) => repo.startsWith('ssh://') || /^[\w.-]+@[\w.-]+:/.test(repo);

/** The hub's own machine: localhost, ::1 or a 127/8 address (never a name that starts with 127.). */
const isLoopback = (host: string) =>
  host === 'localhost' || host === '[::1]' || (isIPv4(host) && host.startsWith('127.'));

/** `text` sealed, or the stored sealed value when it already holds `text` (an apply of the
 *  same file changes nothing: a new seal would differ by its nonce). */
function sealOrKeep(box: SecretBox, label: string, text: string, before: { sealed?: string } | undefined): string {
  if (before?.sealed) {
    try {
      if (box.unseal(label, before.sealed) === text) return before.sealed;
    } catch {
      // Sealed under another key, or for another host: sealed again.
    }
  }
  return box.seal(label, text);
}

/**
 * The spec to store for a validated write: secrets in the clear sealed (the stored sealed
 * value kept when it holds the same secret, so that applying one file again changes nothing),
 * `{set: true}` replaced by what `stored` holds. Throws GITREPO_INVALID when there is nothing
 * to keep, when credentials do not fit the URL, or when the hub has no key to seal with.
 */
export function sealSpec(
  spec: GitRepoSpec,
  stored: GitRepoSpec | undefined,
  box: SecretBox | undefined,
  namespace: string,
  name: string,
): GitRepoSpec {
  if (!spec.credentials && !spec.webhook) return spec;
  if (!box)
    throw refused(spec.credentials ? 'spec.credentials' : 'spec.webhook', 'this hub has no key to seal secrets with');
  const out = { ...spec };
  const c = spec.credentials;
  if (c) {
    const label = credentialsLabel(namespace, name, spec.repo);
    const before = stored?.credentials as { type: CredentialsType; sealed: string } | undefined;
    if ('set' in c) {
      if (!before?.sealed)
        throw refused('spec.credentials', '{set: true} keeps stored credentials, and none are stored');
      // Kept credentials go only where they were given for: a repository moved to another
      // host (scheme, user or port) needs them given again.
      if (stored && repoOrigin(stored.repo) !== repoOrigin(spec.repo)) {
        throw refused(
          'spec.credentials',
          `the repository moved from ${repoOrigin(stored.repo)} to ${repoOrigin(spec.repo)}: give the credentials again (stored ones are never sent to another host)`,
        );
      }
      if (c.type && c.type !== before.type) {
        throw refused('spec.credentials.type', `the stored credentials are of type ${before.type}: give new ones`);
      }
      out.credentials = before;
    } else if ('sealed' in c) {
      throw refused('spec.credentials', 'must be given in the clear');
    } else {
      out.credentials = { type: c.type, sealed: sealOrKeep(box, label, JSON.stringify(c), before) };
    }
    const type = (out.credentials as { type: CredentialsType }).type;
    let url: URL | undefined;
    try {
      url = new URL(spec.repo);
    } catch {
      url = undefined;
    }
    if (url?.protocol === 'file:') throw refused('spec.credentials', 'a file:// repository takes no credentials');
    if (url?.protocol === 'http:' && !isLoopback(url.hostname)) {
      throw refused(
        'spec.credentials',
        'are sent only over https:// (or http:// to this machine): use an https:// URL',
      );
    }
    const ssh = isSshUrl(spec.repo);
    if (ssh && type !== 'ssh') throw refused('spec.credentials', 'an ssh repository needs {sshPrivateKey, knownHosts}');
    if (!ssh && type === 'ssh') {
      throw refused('spec.credentials', 'ssh credentials need an ssh:// or USER@HOST:PATH repository');
    }
  }
  const w = spec.webhook;
  if (w) {
    const label = webhookLabel(namespace, name);
    const before = stored?.webhook as { sealed: string } | undefined;
    if ('set' in w) {
      if (!before?.sealed) throw refused('spec.webhook', '{set: true} keeps a stored secret, and none is stored');
      out.webhook = before;
    } else if ('sealed' in w) {
      throw refused('spec.webhook', 'must be given in the clear');
    } else {
      out.webhook = { sealed: sealOrKeep(box, label, w.secret, before) };
    }
  }
  return out;
}

/** The stored credentials of a GitRepo in the clear; undefined when it has none. */
export function openCredentials(
  spec: GitRepoSpec,
  box: SecretBox | undefined,
  namespace: string,
  name: string,
): GitCredentials | undefined {
  const c = spec.credentials as { sealed?: string } | undefined;
  if (!c?.sealed) return undefined;
  if (!box) {
    throw new OutpostError('GITREPO_SECRET_UNREADABLE', 'this hub has no key to unseal GitRepo credentials with', 500);
  }
  return JSON.parse(box.unseal(credentialsLabel(namespace, name, spec.repo), c.sealed)) as GitCredentials;
}

/** The stored webhook secret of a GitRepo in the clear; undefined when it has none. */
export function openWebhookSecret(
  spec: GitRepoSpec,
  box: SecretBox,
  namespace: string,
  name: string,
): string | undefined {
  const w = spec.webhook as { sealed?: string } | undefined;
  if (!w?.sealed) return undefined;
  return box.unseal(webhookLabel(namespace, name), w.sealed);
}

/** The secrets of `c` as they could appear in git's output (to scrub it). */
export function secretTexts(c: GitCredentials | undefined): string[] {
  if (!c) return [];
  const out: string[] = [];
  const add = (s: string) => {
    out.push(s, encodeURIComponent(s));
  };
  if (c.type === 'basic') {
    add(c.password);
    out.push(Buffer.from(`${c.username}:${c.password}`).toString('base64'));
  } else if (c.type === 'token') {
    add(c.token);
    out.push(Buffer.from(`${tokenUsername}:${c.token}`).toString('base64'));
  } else {
    for (const l of c.sshPrivateKey.split('\n')) if (l.trim().length >= 16) out.push(l.trim());
  }
  return out.filter((s) => s.length >= 4);
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest();

/** Equal strings compared in time that depends on neither (their digests are compared). */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

/** A hex HMAC-SHA256 signature compared with `body`'s under `secret`, in constant time. */
function hmacMatches(given: string, body: Buffer, secret: string): boolean {
  if (!/^[0-9a-fA-F]{64}$/.test(given)) return false;
  const want = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(want, Buffer.from(given, 'hex'));
}

/**
 * Whether a push webhook's request is signed with `secret`: GitHub's
 * `X-Hub-Signature-256: sha256=HEX`, Gitea's (and Gogs's) `X-Gitea-Signature: HEX` (both
 * HMAC-SHA256 of the body), or GitLab's `X-Gitlab-Token: SECRET`. Headers in lower case.
 */
export function webhookSigned(
  headers: Record<string, string | string[] | undefined>,
  body: Buffer,
  secret: string,
): boolean {
  const one = (k: string) => {
    const v = headers[k];
    return typeof v === 'string' ? v : undefined;
  };
  const github = one('x-hub-signature-256');
  if (github !== undefined) return github.startsWith('sha256=') && hmacMatches(github.slice(7), body, secret);
  const gitea = one('x-gitea-signature') ?? one('x-gogs-signature');
  if (gitea !== undefined) return hmacMatches(gitea, body, secret);
  const gitlab = one('x-gitlab-token');
  if (gitlab !== undefined) return sameSecret(gitlab, secret);
  return false;
}
