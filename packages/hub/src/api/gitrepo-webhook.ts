// POST /api/v1/namespaces/{namespace}/gitrepos/{name}/webhook: a forge's push webhook. It
// takes no bearer token (a forge has none): the request must be signed with the GitRepo's
// spec.webhook secret (GitHub X-Hub-Signature-256, Gitea X-Gitea-Signature, GitLab
// X-Gitlab-Token; gitrepos/secrets.ts). A good one makes the GitRepo controller look at the
// repository now (on the leading replica: the wake travels as every API write's does) and is
// answered 202 at once; what the body says is not trusted beyond its signature: the
// controller asks the remote itself. An unknown GitRepo, one without a webhook and a bad or
// missing signature are all the same 401 WEBHOOK_UNAUTHORIZED, so that the endpoint tells
// nobody which GitRepos exist. Registered outside the admin API (no bearer-token hook), but
// audited as it is.
import { randomBytes } from 'node:crypto';
import { apiError, limits } from '@outpost/shared';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/index.ts';
import { type GitRepoSpec, openWebhookSecret, type SecretBox, webhookSigned } from '../gitrepos/index.ts';
import type { Store } from '../store/index.ts';
import { auditCall } from './index.ts';

/** A wake per GitRepo at most this often; more in between are one more wake at its end. */
const coalesceMs = 1_000;

export const gitRepoWebhookRoutes: FastifyPluginAsync<{
  store: Store;
  audit: AuditLog;
  secrets?: SecretBox | undefined;
  onGitRepoChanged?: ((namespace: string, name: string) => void) | undefined;
}> = async (app, { store, audit, secrets, onGitRepoChanged }) => {
  // The body as bytes whatever its type (the signature is over the bytes sent), read as a
  // stream by fastify (never a blocking read) and bounded.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.addHook('onResponse', async (req, reply) => {
    try {
      await auditCall(store, audit, req, reply);
    } catch (err) {
      req.log.error({ err }, 'audit row not written');
    }
  });

  const waking = new Map<string, { again: boolean; timer: NodeJS.Timeout }>();
  const wake = (namespace: string, name: string) => {
    const key = `${namespace}/${name}`;
    const w = waking.get(key);
    if (w) {
      w.again = true;
      return;
    }
    onGitRepoChanged?.(namespace, name);
    const timer = setTimeout(() => {
      const done = waking.get(key);
      waking.delete(key);
      if (done?.again) wake(namespace, name);
    }, coalesceMs);
    timer.unref();
    waking.set(key, { again: false, timer });
  };
  app.addHook('onClose', async () => {
    for (const w of waking.values()) clearTimeout(w.timer);
    waking.clear();
  });

  const decoy = randomBytes(32).toString('hex');
  const unreadableLogged = new Map<string, number>();
  const unauthorized = () =>
    apiError('WEBHOOK_UNAUTHORIZED', 'the request is not signed with the webhook secret of such a GitRepo');

  app.post(
    '/api/v1/namespaces/:namespace/gitrepos/:name/webhook',
    { bodyLimit: limits.gitWebhookBytesMax },
    async (req: FastifyRequest, reply) => {
      const { namespace, name } = req.params as { namespace: string; name: string };
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const row = await store.gitrepos.get(namespace, name);
      let secret: string | undefined;
      if (row && secrets) {
        try {
          secret = openWebhookSecret(row.spec as unknown as GitRepoSpec, secrets, namespace, name);
        } catch (err) {
          // A secret sealed under another key: the hub's problem, told in its log (once a
          // minute per GitRepo: these requests are unauthenticated); the caller learns no
          // more than for any other refusal.
          const key = `${namespace}/${name}`;
          if ((unreadableLogged.get(key) ?? 0) + 60_000 <= Date.now()) {
            unreadableLogged.set(key, Date.now());
            if (unreadableLogged.size > 1000) unreadableLogged.clear();
            req.log.error({ err, gitrepo: key }, 'the webhook secret of a GitRepo is not readable');
          }
        }
      }
      // The signature is checked whether or not there is a secret (a decoy then), so the
      // time of a refusal does not tell whether such a GitRepo, or its webhook, exists.
      const signed = webhookSigned(req.headers, body, secret ?? decoy);
      if (!secret || !signed) throw unauthorized();
      wake(namespace, name);
      return reply.code(202).send({ code: 'WEBHOOK_ACCEPTED', message: `gitrepo ${namespace}/${name} is fetched now` });
    },
  );
};
