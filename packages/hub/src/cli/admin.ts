// The admin CLI: `outpost-hub <noun> <verb>`, a thin client of the REST API (like
// `vault`). Every command accepts the connection flags of config/client.ts.

import { parseArgs } from 'node:util';
import { OutpostError, parseLabelList } from '@outpost/shared';
import type { InventoryItem } from '../api/inventory.ts';
import { type ClientFlags, clientHelp, clientOptions, loadClientConfig } from '../config/client.ts';
import { ConfigError } from '../config/index.ts';
import { confirmationOf } from '../gitrepos/breaker.ts';
import { clusterState, type ManagedCluster } from '../registration/clusters.ts';
import { HubClient } from './client.ts';
import { eachObject, kindOfNoun, objectKinds, objectVerbs } from './objects.ts';
import { age, type Format, render, table } from './output.ts';
import { type GitRepoResource, gitRepoStatusText, type WorkSetResource, workSetStatusText } from './views.ts';
import { follow, listAndWatch, listPages } from './watch.ts';

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

interface Command {
  usage: string;
  summary: string;
  options?: Options;
  /** Number of positional arguments required (names, label edits …). */
  args?: { min: number; max?: number };
  run(ctx: Ctx): Promise<void>;
}

interface Ctx {
  client: HubClient;
  format: Format;
  args: string[];
  flags: Record<string, string | boolean | string[] | undefined>;
  out(text: string): void;
}

interface List<T> {
  items: T[];
  metadata: { continue?: string };
}

const enc = encodeURIComponent;

/** `-n NAMESPACE`: the namespaced path of a workset; without it, a read finds the one object
 *  of that name in any namespace (the hub says NAME_AMBIGUOUS when several hold it) and a
 *  change (`writes`) goes to the namespace default, as kubectl's would. */
const nsOption: Options = { namespace: { type: 'string', short: 'n' } };
function objectPath(ctx: Ctx, plural: string, name?: string, writes = false): string {
  const ns = (ctx.flags.namespace as string | undefined) ?? (writes ? 'default' : undefined);
  const base = ns ? `/api/v1/namespaces/${enc(ns)}/${plural}` : `/api/v1/${plural}`;
  return name === undefined ? base : `${base}/${enc(name)}`;
}

/** `gitrepo pause|resume`: a merge patch of spec.paused (in namespace default unless -n). */
async function setGitRepoPaused(ctx: Ctx, paused: boolean): Promise<void> {
  const g = await ctx.client.callWithHeaders<GitRepoResource>(
    'PATCH',
    objectPath(ctx, 'gitrepos', ctx.args[0], true),
    { spec: { paused } },
    'application/merge-patch+json',
  );
  const name = ctx.args[0] as string;
  ctx.out(render(ctx.format, g.body, () => `gitrepo ${name} ${paused ? 'paused' : 'resumed'}\n`));
}

function condition(c: ManagedCluster, type: string): string {
  return c.status.conditions.find((x) => x.type === type)?.status ?? '-';
}

function clusterTable(items: ManagedCluster[]): string {
  return table(
    ['NAME', 'STATE', 'ACCEPTED', 'JOINED', 'AVAILABLE', 'LABELS', 'CERT EXPIRES', 'LAST SEEN'],
    items.map((c) => [
      c.metadata.name,
      clusterState(c),
      String(c.spec.hubAcceptsClient),
      condition(c, 'Joined'),
      condition(c, 'Available'),
      Object.entries(c.metadata.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',') || '-',
      age(c.status.certificate?.notAfter),
      age(c.status.lastSeen),
    ]),
  );
}

/** `cluster get`: what a person needs about one cluster, as `kubectl describe` shows it. */
function describeCluster(c: ManagedCluster): string {
  const labels = Object.entries(c.metadata.labels).map(([k, v]) => `${k}=${v}`);
  const lines = [
    `name:         ${c.metadata.name}`,
    `state:        ${clusterState(c)}`,
    `labels:       ${labels.join(', ') || '-'}`,
    `joined:       ${c.status.joinedAt ?? '-'}`,
    `last seen:    ${c.status.lastSeen ? `${c.status.lastSeen} (${age(c.status.lastSeen)})` : '-'}`,
    `agent:        ${c.status.agentVersion ?? '-'}`,
  ];
  const cert = c.status.certificate;
  lines.push(
    cert
      ? `certificate:  serial ${cert.serial}, expires ${cert.notAfter} (${age(cert.notAfter)}), CA ${cert.caHash}`
      : 'certificate:  -',
  );
  lines.push(
    `taints:       ${c.spec.taints.map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`).join(', ') || '-'}`,
  );
  lines.push(`claims:       ${c.status.clusterClaims.map((x) => `${x.name}=${x.value}`).join(', ') || '-'}`, '');
  lines.push(
    table(
      ['CONDITION', 'STATUS', 'REASON', 'SINCE', 'MESSAGE'],
      c.status.conditions.map((x) => [
        x.type,
        x.status,
        x.reason,
        x.lastTransitionTime ? age(x.lastTransitionTime) : '-',
        x.message,
      ]),
    ).trimEnd(),
  );
  return `${lines.join('\n')}\n`;
}

interface TokenResource {
  metadata: { name: string; creationTimestamp: string };
  spec: {
    expiration: string;
    usageLimit: number;
    labels: Record<string, string>;
    autoApprove: boolean;
    description: string;
    boundCluster?: string;
  };
  status: { usageCount: number; phase: string; token?: string };
  caCertHashes?: string[];
}

function tokenTable(items: TokenResource[]): string {
  return table(
    ['ID', 'PHASE', 'USES', 'EXPIRES', 'AUTO-APPROVE', 'LABELS', 'DESCRIPTION'],
    items.map((t) => [
      t.metadata.name,
      t.status.phase,
      `${t.status.usageCount}/${t.spec.usageLimit}`,
      age(t.spec.expiration),
      String(t.spec.autoApprove),
      Object.entries(t.spec.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',') || '-',
      (t.spec.boundCluster ? `recovery of ${t.spec.boundCluster}` : t.spec.description).slice(0, 60) || '-',
    ]),
  );
}

async function joinUrl(ctx: Ctx): Promise<string> {
  if (typeof ctx.flags['hub-url'] === 'string') return ctx.flags['hub-url'];
  const ca = await ctx.client.call<{ advertiseUrl: string | null }>('GET', '/api/v1/ca');
  return ca.advertiseUrl ?? ctx.client.hubUrl;
}

function joinCommand(hub: string, token: string, caHashes: string[], extra: string): string {
  // During a CA rotation both CAs are pinned: the old one still signs the serving certificate.
  const pins = caHashes.map((h) => `--ca-cert-hash ${h}`).join(' ');
  return `outpost-agent join --hub ${hub} --token ${token} ${pins} --cluster-name <NAME>${extra}`;
}

/** `apply -f` and `delete -f` of any kind Outpost keeps, routed by each document's kind. */
const kindNames = objectKinds.map((k) => k.kind).join(', ');
const fileOptions: Options = {
  filename: { type: 'string', short: 'f', multiple: true },
  cluster: { type: 'string' },
};

const commands: Record<string, Record<string, Command>> = {
  apply: {
    '': {
      usage: 'apply -f FILE|DIR|- [--cluster NAME]',
      summary: `create or update objects of any kind, routed by each document's kind (${kindNames})`,
      options: fileOptions,
      run: (ctx) => eachObject(ctx, 'apply', undefined, 'apply'),
    },
  },
  delete: {
    '': {
      usage: 'delete -f FILE|DIR|- [--cluster NAME] [--ignore-not-found]',
      summary: 'delete the objects a file declares, by kind and name (works: their agent deletes their objects)',
      options: { ...fileOptions, 'ignore-not-found': { type: 'boolean' } },
      run: (ctx) => eachObject(ctx, 'delete', undefined, 'delete'),
    },
  },
  token: {
    create: {
      usage:
        'token create [--ttl 1h] [--usage-limit 1] [--labels k=v,…] [--auto-approve] [--description TEXT] [--print-join-command [--hub-url URL] [--cluster-name NAME] [--join-mode install|secret|none] [--kubeconfig PATH]]',
      summary:
        'create a bootstrap token (the secret is shown once); --print-join-command prints the whole `outpost-agent join` line instead: by default one that stores the credentials in the cluster of --kubeconfig (~/.kube/config) and installs the agent there (--join-mode install); secret: the credentials only (the agent comes from the chart); none: the bare join',
      options: {
        ttl: { type: 'string' },
        'usage-limit': { type: 'string' },
        labels: { type: 'string' },
        'auto-approve': { type: 'boolean' },
        description: { type: 'string' },
        'print-join-command': { type: 'boolean' },
        'hub-url': { type: 'string' },
        'cluster-name': { type: 'string' },
        'join-mode': { type: 'string' },
        kubeconfig: { type: 'string' },
      },
      async run(ctx) {
        const mode = (ctx.flags['join-mode'] as string | undefined) ?? 'install';
        if (!['install', 'secret', 'none'].includes(mode)) {
          throw new ConfigError(`--join-mode must be install, secret or none (got ${JSON.stringify(mode)})`);
        }
        const joinFlags = ['cluster-name', 'join-mode', 'kubeconfig', 'hub-url'].filter(
          (f) => ctx.flags[f] !== undefined,
        );
        if (joinFlags.length && !ctx.flags['print-join-command']) {
          throw new ConfigError(`--${joinFlags[0]} goes with --print-join-command`);
        }
        const name = ctx.flags['cluster-name'] as string | undefined;
        if (name !== undefined && (name.length > 63 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name))) {
          throw new ConfigError(`--cluster-name must be a DNS-1123 label (got ${JSON.stringify(name)})`);
        }
        if (ctx.flags.kubeconfig !== undefined && mode === 'none') {
          throw new ConfigError('--kubeconfig says where the credentials go: not with --join-mode none');
        }
        const spec: Record<string, unknown> = {};
        if (ctx.flags.ttl) spec.ttl = ctx.flags.ttl;
        if (ctx.flags['usage-limit']) spec.usageLimit = Number(ctx.flags['usage-limit']);
        if (ctx.flags.labels) spec.labels = parseLabelList(ctx.flags.labels as string);
        if (ctx.flags['auto-approve']) spec.autoApprove = true;
        if (ctx.flags.description) spec.description = ctx.flags.description;
        const t = await ctx.client.call<TokenResource>('POST', '/api/v1/bootstraptokens', { spec });
        if (ctx.flags['print-join-command']) {
          // The common case whole: credentials in the cluster, and the agent installed there.
          const kubeconfig = (ctx.flags.kubeconfig as string | undefined) ?? '~/.kube/config';
          const extra =
            mode === 'install'
              ? ` --kubeconfig ${kubeconfig} --install`
              : mode === 'secret'
                ? ` --kubeconfig ${kubeconfig}`
                : '';
          const line = joinCommand(await joinUrl(ctx), t.status.token ?? '', t.caCertHashes ?? [], extra);
          ctx.out(`${name ? line.replace('<NAME>', name) : line}\n`);
          return;
        }
        ctx.out(
          render(
            ctx.format,
            t,
            () => `${t.status.token}\n(expires ${t.spec.expiration}; the secret is not shown again)\n`,
          ),
        );
      },
    },
    list: {
      usage: 'token list',
      summary: 'list bootstrap tokens with usage and expiry (never the secret)',
      async run(ctx) {
        const list = await ctx.client.call<List<TokenResource>>('GET', '/api/v1/bootstraptokens');
        ctx.out(render(ctx.format, list, () => tokenTable(list.items)));
      },
    },
    revoke: {
      usage: 'token revoke ID',
      summary: 'revoke a bootstrap token',
      args: { min: 1, max: 1 },
      async run(ctx) {
        const t = await ctx.client.call<TokenResource>(
          'DELETE',
          `/api/v1/bootstraptokens/${enc(ctx.args[0] as string)}`,
        );
        ctx.out(render(ctx.format, t, () => `bootstrap token ${t.metadata.name} revoked\n`));
      },
    },
  },
  cluster: {
    list: {
      usage: 'cluster list [-l SELECTOR] [-w]',
      summary:
        'list clusters, optionally filtered by a label selector; -w then prints each change as it happens (Ctrl-C ends)',
      options: { selector: { type: 'string', short: 'l' }, watch: { type: 'boolean', short: 'w' } },
      async run(ctx) {
        if (ctx.flags.watch) await listAndWatch<ManagedCluster>(ctx, '/api/v1/clusters', clusterTable);
        const items: ManagedCluster[] = [];
        let cont = '';
        do {
          const q = new URLSearchParams({ limit: '500' });
          if (cont) q.set('continue', cont);
          if (ctx.flags.selector) q.set('labelSelector', ctx.flags.selector as string);
          const page = await ctx.client.call<List<ManagedCluster>>('GET', `/api/v1/clusters?${q}`);
          items.push(...page.items);
          cont = page.metadata.continue ?? '';
        } while (cont);
        const list = { apiVersion: 'outpost.dev/v1alpha1', kind: 'ManagedClusterList', items };
        ctx.out(render(ctx.format, list, () => clusterTable(items)));
      },
    },
    get: {
      usage: 'cluster get NAME',
      summary: 'show one cluster: state, certificate, taints, claims and conditions',
      args: { min: 1, max: 1 },
      async run(ctx) {
        const c = await ctx.client.call<ManagedCluster>('GET', `/api/v1/clusters/${enc(ctx.args[0] as string)}`);
        ctx.out(render(ctx.format, c, () => describeCluster(c)));
      },
    },
    approve: {
      usage: 'cluster approve NAME',
      summary: 'accept a cluster and sign its pending certificate request',
      args: { min: 1, max: 1 },
      async run(ctx) {
        const c = await ctx.client.call<ManagedCluster>(
          'POST',
          `/api/v1/clusters/${enc(ctx.args[0] as string)}/approve`,
        );
        ctx.out(render(ctx.format, c, () => `cluster ${c.metadata.name} approved\n`));
      },
    },
    deny: {
      usage: 'cluster deny NAME',
      summary: 'refuse a cluster: pending joins are denied, every certificate revoked',
      args: { min: 1, max: 1 },
      async run(ctx) {
        const c = await ctx.client.call<ManagedCluster>('POST', `/api/v1/clusters/${enc(ctx.args[0] as string)}/deny`);
        ctx.out(render(ctx.format, c, () => `cluster ${c.metadata.name} denied; its certificates are revoked\n`));
      },
    },
    adopt: {
      usage: 'cluster adopt NAME',
      summary: "let the cluster's agent take this hub's desired state after a database replacement or restore",
      args: { min: 1, max: 1 },
      async run(ctx) {
        const c = await ctx.client.call<ManagedCluster>('POST', `/api/v1/clusters/${enc(ctx.args[0] as string)}/adopt`);
        ctx.out(
          render(
            ctx.format,
            c,
            () => `cluster ${c.metadata.name}: its agent may adopt this hub's database on its next poll\n`,
          ),
        );
      },
    },
    'confirm-deletions': {
      usage: 'cluster confirm-deletions NAME',
      summary:
        "let the agent carry out the deletions its mass-delete breaker held (see the works' DeletionsHeld condition)",
      args: { min: 1, max: 1 },
      async run(ctx) {
        const c = await ctx.client.call<ManagedCluster>(
          'POST',
          `/api/v1/clusters/${enc(ctx.args[0] as string)}/confirm-deletions`,
        );
        ctx.out(
          render(
            ctx.format,
            c,
            () => `cluster ${c.metadata.name}: held deletions confirmed; its agent carries them out on its next poll\n`,
          ),
        );
      },
    },
    label: {
      usage: 'cluster label NAME key=value … key- …',
      summary: 'set (key=value) or remove (key-) labels',
      args: { min: 2 },
      options: { 'resource-version': { type: 'string' } },
      async run(ctx) {
        const [name, ...edits] = ctx.args as [string, ...string[]];
        const labels: Record<string, string | null> = {};
        for (const e of edits) {
          if (e.endsWith('-') && !e.includes('=')) labels[e.slice(0, -1)] = null;
          else Object.assign(labels, parseLabelList(e));
        }
        const metadata: Record<string, unknown> = { labels };
        if (ctx.flags['resource-version']) metadata.resourceVersion = ctx.flags['resource-version'];
        const c = await ctx.client.call<ManagedCluster>('PATCH', `/api/v1/clusters/${enc(name)}`, { metadata });
        ctx.out(render(ctx.format, c, () => `cluster ${c.metadata.name} labelled\n`));
      },
    },
    remove: {
      usage: 'cluster remove NAME [--force]',
      summary:
        'remove a cluster: its agent first deletes its works under their delete policies (--force: at once, leaving everything on the spoke)',
      args: { min: 1, max: 1 },
      options: { force: { type: 'boolean' } },
      async run(ctx) {
        const name = ctx.args[0] as string;
        const res = await ctx.client.callWithHeaders<unknown>(
          'DELETE',
          `/api/v1/clusters/${enc(name)}${ctx.flags.force ? '?force=true' : ''}`,
        );
        ctx.out(
          render(ctx.format, res.body, () =>
            res.status === 202
              ? `cluster ${name} is being removed: its agent deletes the works first (see \`cluster get ${name}\`); --force removes it at once\n`
              : `cluster ${name} removed; its certificates are revoked\n`,
          ),
        );
      },
    },
    recover: {
      usage: 'cluster recover NAME [--ttl 24h] [--hub-url URL]',
      summary: 'a single-use token that lets NAME re-join with a new key, keeping its identity',
      args: { min: 1, max: 1 },
      options: { ttl: { type: 'string' }, 'hub-url': { type: 'string' } },
      async run(ctx) {
        const name = ctx.args[0] as string;
        const body = ctx.flags.ttl ? { ttl: ctx.flags.ttl } : undefined;
        const r = await ctx.client.call<{ token: string; expiresAt: string; caCertHashes: string[] }>(
          'POST',
          `/api/v1/clusters/${enc(name)}/recover`,
          body,
        );
        const cmd = joinCommand(await joinUrl(ctx), r.token, r.caCertHashes, ' --recover').replace('<NAME>', name);
        ctx.out(render(ctx.format, r, () => `run on cluster ${name} before ${r.expiresAt}:\n  ${cmd}\n`));
      },
    },
  },
  ca: {
    status: {
      usage: 'ca status',
      summary: 'the signing CA and the progress of a rotation',
      async run(ctx) {
        const s = await ctx.client.call<{
          signing: { hash: string };
          previous: { hash: string } | null;
          rotation: { state: string; clustersPending: string[] };
        }>('GET', '/api/v1/ca');
        ctx.out(render(ctx.format, s, () => caText(s)));
      },
    },
    rotate: {
      usage: 'ca rotate',
      summary: 'start a CA rotation; the old CA is retired once every cluster renewed',
      async run(ctx) {
        const s = await ctx.client.call<{
          signing: { hash: string };
          previous: { hash: string } | null;
          rotation: { state: string; clustersPending: string[] };
        }>('POST', '/api/v1/ca/rotate');
        ctx.out(render(ctx.format, s, () => caText(s)));
      },
    },
  },
  apitoken: {
    create: {
      usage: 'apitoken create --name NAME --scope admin|read-only [--ttl 90d]',
      summary: 'create an API token for a person or automation (shown once)',
      options: { name: { type: 'string' }, scope: { type: 'string' }, ttl: { type: 'string' } },
      async run(ctx) {
        const body: Record<string, unknown> = { name: ctx.flags.name, scope: ctx.flags.scope ?? 'read-only' };
        if (ctx.flags.ttl) body.ttl = ctx.flags.ttl;
        const t = await ctx.client.call<{ metadata: { name: string }; status: { token: string } }>(
          'POST',
          '/api/v1/apitokens',
          body,
        );
        ctx.out(
          render(ctx.format, t, () => `${t.status.token}\n(id ${t.metadata.name}; the token is not shown again)\n`),
        );
      },
    },
    list: {
      usage: 'apitoken list',
      summary: 'list API tokens (never the secret)',
      async run(ctx) {
        const l = await ctx.client.call<
          List<{
            metadata: { name: string; creationTimestamp: string };
            spec: { displayName: string; scope: string; expiration: string | null };
            status: { revokedAt: string | null };
          }>
        >('GET', '/api/v1/apitokens');
        ctx.out(
          render(ctx.format, l, () =>
            table(
              ['ID', 'NAME', 'SCOPE', 'CREATED', 'EXPIRES', 'REVOKED'],
              l.items.map((t) => [
                t.metadata.name,
                t.spec.displayName,
                t.spec.scope,
                age(t.metadata.creationTimestamp),
                age(t.spec.expiration),
                t.status.revokedAt ? 'yes' : 'no',
              ]),
            ),
          ),
        );
      },
    },
    revoke: {
      usage: 'apitoken revoke ID',
      summary: 'revoke an API token',
      args: { min: 1, max: 1 },
      async run(ctx) {
        const t = await ctx.client.call('DELETE', `/api/v1/apitokens/${enc(ctx.args[0] as string)}`);
        ctx.out(render(ctx.format, t, () => `api token ${ctx.args[0]} revoked\n`));
      },
    },
  },
  work: objectVerbs(kindOfNoun('work')),
  placement: objectVerbs(kindOfNoun('placement')),
  clusterset: objectVerbs(kindOfNoun('clusterset')),
  clustersetbinding: objectVerbs(kindOfNoun('clustersetbinding')),
  workset: {
    ...objectVerbs(kindOfNoun('workset')),
    pause: {
      usage: 'workset pause NAME [-n NAMESPACE]',
      summary: 'pause the rollout: nothing new is handed out until resume (spec.paused)',
      options: nsOption,
      args: { min: 1, max: 1 },
      async run(ctx) {
        const w = await ctx.client.call<WorkSetResource>(
          'POST',
          `${objectPath(ctx, 'manifestworkreplicasets', ctx.args[0], true)}/pause`,
        );
        ctx.out(render(ctx.format, w, () => `manifestworkreplicaset ${w.metadata.name} paused\n`));
      },
    },
    resume: {
      usage: 'workset resume NAME [-n NAMESPACE]',
      summary: 'resume a paused rollout',
      options: nsOption,
      args: { min: 1, max: 1 },
      async run(ctx) {
        const w = await ctx.client.call<WorkSetResource>(
          'POST',
          `${objectPath(ctx, 'manifestworkreplicasets', ctx.args[0], true)}/resume`,
        );
        ctx.out(render(ctx.format, w, () => `manifestworkreplicaset ${w.metadata.name} resumed\n`));
      },
    },
    status: {
      usage: 'workset status NAME [-n NAMESPACE] [--watch]',
      summary: 'rollout summary and per-cluster rollout states; --watch re-prints on change (Ctrl-C ends)',
      options: { ...nsOption, watch: { type: 'boolean', short: 'w' } },
      args: { min: 1, max: 1 },
      async run(ctx) {
        const path = objectPath(ctx, 'manifestworkreplicasets', ctx.args[0]);
        const show = (w: WorkSetResource) =>
          render(ctx.format, { metadata: w.metadata, status: w.status ?? null }, () => workSetStatusText(w));
        const first = await ctx.client.call<WorkSetResource>('GET', path);
        let last = show(first);
        ctx.out(last);
        if (!ctx.flags.watch) return;
        // Re-printed on every change of it the hub's watch brings (its status included).
        const { metadata } = first;
        const list = `/api/v1/namespaces/${enc(metadata.namespace ?? 'default')}/manifestworkreplicasets`;
        const query = { fieldSelector: `metadata.name=${metadata.name}` };
        const reread = async () => {
          const { items, resourceVersion } = await listPages<WorkSetResource>(ctx.client, list);
          if (!items.some((w) => w.metadata.name === metadata.name))
            throw new OutpostError('WORKSET_NOT_FOUND', `manifestworkreplicaset ${metadata.name} is gone`, 1);
          return resourceVersion;
        };
        await follow(
          ctx.client,
          list,
          query,
          await reread(),
          (e) => {
            if (e.type === 'DELETED')
              throw new OutpostError('WORKSET_NOT_FOUND', `manifestworkreplicaset ${metadata.name} was deleted`, 1);
            const next = show(e.object as WorkSetResource);
            if (next !== last) ctx.out(`\n${next}`);
            last = next;
          },
          reread,
          (text) => process.stderr.write(text),
        );
      },
    },
  },
  gitrepo: {
    ...objectVerbs(kindOfNoun('gitrepo')),
    pause: {
      usage: 'gitrepo pause NAME [-n NAMESPACE]',
      summary: 'stop fetching and pause the worksets of every path (spec.paused); what was rolled out stays',
      options: nsOption,
      args: { min: 1, max: 1 },
      run: (ctx) => setGitRepoPaused(ctx, true),
    },
    resume: {
      usage: 'gitrepo resume NAME [-n NAMESPACE]',
      summary: 'fetch again and resume the worksets of every path',
      options: nsOption,
      args: { min: 1, max: 1 },
      run: (ctx) => setGitRepoPaused(ctx, false),
    },
    status: {
      usage: 'gitrepo status NAME [-n NAMESPACE]',
      summary:
        'the commit fetched, the conditions (Fetched, Rendered, Ready) and each path’s workset, commit and rollout state',
      options: nsOption,
      args: { min: 1, max: 1 },
      async run(ctx) {
        const g = await ctx.client.call<GitRepoResource>('GET', objectPath(ctx, 'gitrepos', ctx.args[0]));
        ctx.out(render(ctx.format, { metadata: g.metadata, status: g.status }, () => gitRepoStatusText(g)));
      },
    },
    'confirm-deletions': {
      usage: 'gitrepo confirm-deletions NAME [-n NAMESPACE] [--commit ID]',
      summary:
        'roll out the commit the deletion breaker holds (a commit deleting more than spec.maxDeleteShare of a path’s objects); --commit: only if that is the commit held',
      options: { ...nsOption, commit: { type: 'string' } },
      args: { min: 1, max: 1 },
      async run(ctx) {
        const commit = ctx.flags.commit as string | undefined;
        const g = await ctx.client.call<GitRepoResource>(
          'POST',
          `${objectPath(ctx, 'gitrepos', ctx.args[0], true)}/confirm-deletions`,
          commit ? { commit } : {},
        );
        const confirmed = confirmationOf(g.metadata.annotations ?? {});
        ctx.out(
          render(
            ctx.format,
            g,
            () =>
              `gitrepo ${g.metadata.name}: the deletions of commit ${confirmed?.commit ?? '?'} in ${Object.keys(confirmed?.paths ?? {}).join(', ')} confirmed; they roll out now\n`,
          ),
        );
      },
    },
  },
  inventory: {
    '': {
      usage:
        'inventory [--kind KIND [--group GROUP]] [-n NAMESPACE] [--name NAME|PREFIX*] [--cluster NAME] [--limit 500]',
      summary:
        'which clusters have which objects (the works declare them), by kind, namespace, name, cluster; with what each agent reported',
      options: {
        kind: { type: 'string' },
        group: { type: 'string' },
        ...nsOption,
        name: { type: 'string' },
        cluster: { type: 'string' },
        limit: { type: 'string' },
      },
      async run(ctx) {
        const max = Number(ctx.flags.limit ?? 500);
        if (!Number.isInteger(max) || max < 1) throw new ConfigError('--limit must be a positive integer');
        const q = new URLSearchParams();
        for (const k of ['kind', 'group', 'namespace', 'name', 'cluster']) {
          const v = ctx.flags[k];
          if (typeof v === 'string' && v) q.set(k, v);
        }
        // Page by page (at most 500 an answer) until --limit objects are shown.
        const items: InventoryItem[] = [];
        let more: string | undefined;
        do {
          q.set('limit', String(Math.min(500, max - items.length)));
          if (more) q.set('continue', more);
          const l = await ctx.client.call<List<InventoryItem>>('GET', `/api/v1/inventory?${q}`);
          items.push(...l.items);
          more = l.metadata.continue;
        } while (more && items.length < max);
        const list = { apiVersion: 'outpost.dev/v1alpha1', kind: 'InventoryList', metadata: {}, items };
        ctx.out(
          render(ctx.format, list, () =>
            table(
              ['CLUSTER', 'WORK', 'KIND', 'NAMESPACE', 'NAME', 'REPORTED'],
              items.map((i) => [
                i.cluster,
                `${i.work}${i.workDeletionTimestamp ? ' (deleting)' : ''}`,
                i.group ? `${i.kind}.${i.group}` : i.kind,
                i.namespace ?? '-',
                i.name,
                i.statusOmitted
                  ? 'status too large'
                  : i.conditions
                    ? i.conditions.map((c) => `${c.type}=${c.status}`).join(',') || '-'
                    : 'not reported',
              ]),
            ),
          ),
        );
        if (more) process.stderr.write(`more objects match than --limit ${max} shows: narrow the search or raise it\n`);
      },
    },
  },
  audit: {
    list: {
      usage:
        'audit list [--limit 50] [--actor token:NAME] [--action DELETE] [--resource /api/v1/clusters/X] [--result 403] [--since 2026-01-31T12:00:00Z]',
      summary:
        'recent audit events, newest first; --actor exactly, --action/--resource/--result by prefix, --since a time',
      options: {
        limit: { type: 'string' },
        actor: { type: 'string' },
        action: { type: 'string' },
        resource: { type: 'string' },
        result: { type: 'string' },
        since: { type: 'string' },
      },
      async run(ctx) {
        const query = new URLSearchParams({ limit: (ctx.flags.limit as string | undefined) ?? '50' });
        for (const k of ['actor', 'action', 'resource', 'result', 'since']) {
          const v = ctx.flags[k];
          if (typeof v === 'string') query.set(k, v);
        }
        // A filter that matches little may take several windows of the log: follow continue
        // until the page is full or the log ends.
        const want = Number(query.get('limit'));
        type Event = { at: string; actor: string; action: string; resource: string; result: string };
        let l = await ctx.client.call<List<Event>>('GET', `/api/v1/auditevents?${query}`);
        const items = [...l.items];
        while (items.length < want && l.metadata.continue) {
          query.set('continue', l.metadata.continue);
          query.set('limit', String(want - items.length));
          l = await ctx.client.call<List<Event>>('GET', `/api/v1/auditevents?${query}`);
          items.push(...l.items);
        }
        l = { ...l, items };
        ctx.out(
          render(ctx.format, l, () =>
            table(
              ['TIME', 'ACTOR', 'ACTION', 'RESOURCE', 'RESULT'],
              l.items.map((e) => [e.at, e.actor, e.action, e.resource, e.result]),
            ),
          ),
        );
      },
    },
  },
};

function caText(s: {
  signing: { hash: string };
  previous: { hash: string } | null;
  rotation: { state: string; clustersPending: string[] };
}): string {
  const lines = [`signing CA:  ${s.signing.hash}`];
  if (s.previous) {
    lines.push(`retiring CA: ${s.previous.hash}`);
    lines.push(`rotation:    in progress; waiting for ${s.rotation.clustersPending.length} cluster(s) to renew`);
    if (s.rotation.clustersPending.length)
      lines.push(
        `  ${s.rotation.clustersPending.slice(0, 20).join(', ')}${s.rotation.clustersPending.length > 20 ? ', …' : ''}`,
      );
  } else {
    lines.push('rotation:    none in progress');
  }
  return `${lines.join('\n')}\n`;
}

export const adminNouns = Object.keys(commands);

export function adminHelp(): string {
  const lines = ['Admin commands (talk to the hub REST API):'];
  for (const [noun, verbs] of Object.entries(commands)) {
    for (const [verb, c] of Object.entries(verbs)) lines.push(`  ${`${noun} ${verb}`.trim().padEnd(18)} ${c.summary}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Runs `outpost-hub NOUN VERB …`; returns the exit code. */
export async function runAdmin(noun: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const verbs = commands[noun] as Record<string, Command>;
  // `apply` and `delete` are verbs of their own, without a noun (as in kubectl).
  const [verb, ...rest] = verbs[''] ? ['', ...argv] : argv;
  const cmd = verb !== undefined ? verbs[verb] : undefined;
  if (!cmd) {
    const list = Object.entries(verbs)
      .map(([v, c]) => `  ${v.padEnd(10)} ${c.summary}`)
      .join('\n');
    const out = `Usage: outpost-hub ${noun} <verb> [flags]\n\nVerbs:\n${list}\n\n${clientHelp}`;
    if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
      process.stdout.write(out);
      return verb === undefined ? 2 : 0;
    }
    process.stderr.write(`outpost-hub: unknown verb ${JSON.stringify(verb)} for ${noun}\n\n${out}`);
    return 2;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...clientOptions, ...cmd.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\nusage: outpost-hub ${cmd.usage}`);
  }
  if (parsed.values.help) {
    process.stdout.write(`Usage: outpost-hub ${cmd.usage}\n\n${cmd.summary}\n\n${clientHelp}`);
    return 0;
  }
  const { min = 0, max = Number.POSITIVE_INFINITY } = cmd.args ?? {};
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    throw new ConfigError(`wrong number of arguments\nusage: outpost-hub ${cmd.usage}`);
  }
  const config = loadClientConfig(parsed.values as ClientFlags, env);
  const client = new HubClient(config);
  try {
    await cmd.run({
      client,
      format: config.output,
      args: parsed.positionals,
      flags: parsed.values as Ctx['flags'],
      out: (t) => process.stdout.write(t),
    });
    return 0;
  } finally {
    await client.close();
  }
}
