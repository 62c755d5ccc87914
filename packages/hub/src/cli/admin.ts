// The admin CLI: `outpost-hub <noun> <verb>`, a thin client of the REST API (like
// `vault`). Every command accepts the connection flags of config/client.ts.

import { parseArgs } from 'node:util';
import { parseLabelList } from '@outpost/shared';
import { type ClientFlags, clientHelp, clientOptions, loadClientConfig } from '../config/client.ts';
import { ConfigError } from '../config/index.ts';
import { clusterState, type ManagedCluster } from '../registration/clusters.ts';
import type { ManifestWorkReplicaSetStatus } from '../rollout/index.ts';
import { HubClient } from './client.ts';
import { eachObject, kindOfNoun, objectKinds } from './objects.ts';
import { age, type Format, render, table } from './output.ts';

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

/** `-n NAMESPACE`: the namespaced path of a Placement or workset; without it, the path that
 *  finds the one object of that name in any namespace (the hub says NAME_AMBIGUOUS when
 *  several hold it). */
const nsOption: Options = { namespace: { type: 'string', short: 'n' } };
function objectPath(ctx: Ctx, plural: string, name?: string): string {
  const ns = ctx.flags.namespace as string | undefined;
  const base = ns ? `/api/v1/namespaces/${enc(ns)}/${plural}` : `/api/v1/${plural}`;
  return name === undefined ? base : `${base}/${enc(name)}`;
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
      usage: 'cluster list [-l SELECTOR]',
      summary: 'list clusters, optionally filtered by a label selector',
      options: { selector: { type: 'string', short: 'l' } },
      async run(ctx) {
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
  work: {
    apply: {
      usage: 'work apply -f FILE|DIR|- [--cluster NAME]',
      summary: 'create or update ManifestWorks from YAML/JSON (multi-document; OCM YAML accepted)',
      options: { filename: { type: 'string', short: 'f', multiple: true }, cluster: { type: 'string' } },
      run: (ctx) => eachObject(ctx, 'apply', kindOfNoun('work'), 'work apply'),
    },
    get: {
      usage: 'work get NAME --cluster CLUSTER',
      summary: 'show one ManifestWork with its manifests and status',
      args: { min: 1, max: 1 },
      options: { cluster: { type: 'string' } },
      async run(ctx) {
        const cluster = requireCluster(ctx);
        const w = await ctx.client.call<WorkResource>(
          'GET',
          `/api/v1/clusters/${enc(cluster)}/works/${enc(ctx.args[0] as string)}`,
        );
        ctx.out(render(ctx.format, w, () => describeWork(w)));
      },
    },
    list: {
      usage: 'work list [--cluster CLUSTER] [-l SELECTOR]',
      summary: 'list ManifestWorks of one cluster or of the fleet',
      options: { cluster: { type: 'string' }, selector: { type: 'string', short: 'l' } },
      async run(ctx) {
        const items: WorkResource[] = [];
        let cont = '';
        const base = ctx.flags.cluster ? `/api/v1/clusters/${enc(ctx.flags.cluster as string)}/works` : '/api/v1/works';
        do {
          const q = new URLSearchParams({ limit: '500' });
          if (cont) q.set('continue', cont);
          if (ctx.flags.selector) q.set('labelSelector', ctx.flags.selector as string);
          const page = await ctx.client.call<List<WorkResource>>('GET', `${base}?${q}`);
          items.push(...page.items);
          cont = page.metadata.continue ?? '';
        } while (cont);
        const list = { apiVersion: 'outpost.dev/v1alpha1', kind: 'ManifestWorkList', items };
        ctx.out(render(ctx.format, list, () => workTable(items)));
      },
    },
    delete: {
      usage: 'work delete NAME --cluster CLUSTER',
      summary: "delete a ManifestWork; the agent removes its objects under the work's delete policy",
      args: { min: 1, max: 1 },
      options: { cluster: { type: 'string' } },
      async run(ctx) {
        const cluster = requireCluster(ctx);
        const w = await ctx.client.call<WorkResource>(
          'DELETE',
          `/api/v1/clusters/${enc(cluster)}/works/${enc(ctx.args[0] as string)}`,
        );
        ctx.out(render(ctx.format, w, () => `manifestwork ${cluster}/${w.metadata.name} deletion requested\n`));
      },
    },
  },
  placement: {
    apply: {
      usage: 'placement apply -f FILE|DIR|-',
      summary: 'create or update Placements from YAML/JSON (multi-document; OCM v1beta1 YAML accepted)',
      options: { filename: { type: 'string', short: 'f', multiple: true } },
      run: (ctx) => eachObject(ctx, 'apply', kindOfNoun('placement'), 'placement apply'),
    },
    get: {
      usage: 'placement get NAME [-n NAMESPACE]',
      summary: 'show one Placement with its decisions',
      options: nsOption,
      args: { min: 1, max: 1 },
      async run(ctx) {
        const p = await ctx.client.call<PlacementResource>('GET', objectPath(ctx, 'placements', ctx.args[0]));
        ctx.out(render(ctx.format, p, () => describePlacement(p)));
      },
    },
    list: {
      usage: 'placement list [-n NAMESPACE] [-l SELECTOR]',
      summary: 'list Placements (of every namespace unless -n names one) with how many clusters each selected',
      options: { ...nsOption, selector: { type: 'string', short: 'l' } },
      async run(ctx) {
        const items = await listAll<PlacementResource>(ctx, objectPath(ctx, 'placements'));
        const list = { apiVersion: 'outpost.dev/v1alpha1', kind: 'PlacementList', items };
        ctx.out(render(ctx.format, list, () => placementTable(items)));
      },
    },
    delete: {
      usage: 'placement delete NAME [-n NAMESPACE]',
      summary: 'delete a Placement (worksets that use it hand nothing new out through it and keep their works)',
      options: nsOption,
      args: { min: 1, max: 1 },
      async run(ctx) {
        const p = await ctx.client.call<PlacementResource>('DELETE', objectPath(ctx, 'placements', ctx.args[0]));
        ctx.out(render(ctx.format, p, () => `placement ${p.metadata.name} deleted\n`));
      },
    },
  },
  clusterset: {
    apply: {
      usage: 'clusterset apply -f FILE|DIR|-',
      summary: "create or update ManagedClusterSets from YAML/JSON (OCM's v1beta2 or v1beta1 YAML as is)",
      options: { filename: { type: 'string', short: 'f', multiple: true } },
      run: (ctx) => eachObject(ctx, 'apply', kindOfNoun('clusterset'), 'clusterset apply'),
    },
    get: {
      usage: 'clusterset get NAME',
      summary: 'show one ManagedClusterSet: how it selects its clusters and how many it holds',
      args: { min: 1, max: 1 },
      async run(ctx) {
        const s = await ctx.client.call<ClusterSetResource>(
          'GET',
          `/api/v1/managedclustersets/${enc(ctx.args[0] as string)}`,
        );
        ctx.out(render(ctx.format, s, () => `${clusterSetTable([s])}\n${conditionTable(s.status.conditions)}`));
      },
    },
    list: {
      usage: 'clusterset list [-l SELECTOR]',
      summary: 'list ManagedClusterSets (default and global always exist) with their member counts',
      options: { selector: { type: 'string', short: 'l' } },
      async run(ctx) {
        const items = await listAll<ClusterSetResource>(ctx, '/api/v1/managedclustersets');
        const list = { apiVersion: 'outpost.dev/v1alpha1', kind: 'ManagedClusterSetList', items };
        ctx.out(render(ctx.format, list, () => clusterSetTable(items)));
      },
    },
    delete: {
      usage: 'clusterset delete NAME',
      summary: 'delete a ManagedClusterSet (placements that name it select none of its clusters from then on)',
      args: { min: 1, max: 1 },
      async run(ctx) {
        const s = await ctx.client.call<ClusterSetResource>(
          'DELETE',
          `/api/v1/managedclustersets/${enc(ctx.args[0] as string)}`,
        );
        ctx.out(render(ctx.format, s, () => `managedclusterset ${s.metadata.name} deleted\n`));
      },
    },
  },
  clustersetbinding: {
    apply: {
      usage: 'clustersetbinding apply -f FILE|DIR|-',
      summary: "create or update ManagedClusterSetBindings (OCM's YAML as is; no metadata.namespace means default)",
      options: { filename: { type: 'string', short: 'f', multiple: true } },
      run: (ctx) => eachObject(ctx, 'apply', kindOfNoun('clustersetbinding'), 'clustersetbinding apply'),
    },
    list: {
      usage: 'clustersetbinding list [-n NAMESPACE] [-l SELECTOR]',
      summary: 'list ManagedClusterSetBindings, of every namespace unless -n names one',
      options: { namespace: { type: 'string', short: 'n' }, selector: { type: 'string', short: 'l' } },
      async run(ctx) {
        const ns = ctx.flags.namespace as string | undefined;
        const path = ns
          ? `/api/v1/namespaces/${enc(ns)}/managedclustersetbindings`
          : '/api/v1/managedclustersetbindings';
        const items = await listAll<BindingResource>(ctx, path);
        const list = { apiVersion: 'outpost.dev/v1alpha1', kind: 'ManagedClusterSetBindingList', items };
        ctx.out(
          render(ctx.format, list, () =>
            table(
              ['NAMESPACE', 'NAME', 'BOUND', 'AGE'],
              items.map((b) => [
                b.metadata.namespace,
                b.metadata.name,
                b.status.conditions.find((c) => c.type === 'Bound')?.status ?? '-',
                age(b.metadata.creationTimestamp),
              ]),
            ),
          ),
        );
      },
    },
    delete: {
      usage: 'clustersetbinding delete NAME [-n NAMESPACE]',
      summary:
        "delete a binding (namespace default unless -n): that namespace's placements stop selecting from the set",
      options: { namespace: { type: 'string', short: 'n' } },
      args: { min: 1, max: 1 },
      async run(ctx) {
        const ns = (ctx.flags.namespace as string | undefined) ?? 'default';
        const b = await ctx.client.call<BindingResource>(
          'DELETE',
          `/api/v1/namespaces/${enc(ns)}/managedclustersetbindings/${enc(ctx.args[0] as string)}`,
        );
        ctx.out(render(ctx.format, b, () => `managedclustersetbinding ${ns}/${b.metadata.name} deleted\n`));
      },
    },
  },
  workset: {
    apply: {
      usage: 'workset apply -f FILE|DIR|-',
      summary: 'create or update ManifestWorkReplicaSets from YAML/JSON (multi-document; OCM v1alpha1 YAML accepted)',
      options: { filename: { type: 'string', short: 'f', multiple: true } },
      run: (ctx) => eachObject(ctx, 'apply', kindOfNoun('workset'), 'workset apply'),
    },
    get: {
      usage: 'workset get NAME [-n NAMESPACE]',
      summary: 'show one ManifestWorkReplicaSet',
      options: nsOption,
      args: { min: 1, max: 1 },
      async run(ctx) {
        const w = await ctx.client.call<WorkSetResource>(
          'GET',
          objectPath(ctx, 'manifestworkreplicasets', ctx.args[0]),
        );
        ctx.out(render(ctx.format, w, () => describeWorkSet(w)));
      },
    },
    list: {
      usage: 'workset list [-n NAMESPACE] [-l SELECTOR]',
      summary: 'list ManifestWorkReplicaSets (of every namespace unless -n names one)',
      options: { ...nsOption, selector: { type: 'string', short: 'l' } },
      async run(ctx) {
        const items = await listAll<WorkSetResource>(ctx, objectPath(ctx, 'manifestworkreplicasets'));
        const list = { apiVersion: 'outpost.dev/v1alpha1', kind: 'ManifestWorkReplicaSetList', items };
        ctx.out(render(ctx.format, list, () => workSetTable(items)));
      },
    },
    delete: {
      usage: 'workset delete NAME [-n NAMESPACE]',
      summary: 'delete a ManifestWorkReplicaSet',
      options: nsOption,
      args: { min: 1, max: 1 },
      async run(ctx) {
        const w = await ctx.client.call<WorkSetResource>(
          'DELETE',
          objectPath(ctx, 'manifestworkreplicasets', ctx.args[0]),
        );
        ctx.out(render(ctx.format, w, () => `manifestworkreplicaset ${w.metadata.name} deleted\n`));
      },
    },
    pause: {
      usage: 'workset pause NAME [-n NAMESPACE]',
      summary: 'pause the rollout: nothing new is handed out until resume (spec.paused)',
      options: nsOption,
      args: { min: 1, max: 1 },
      async run(ctx) {
        const w = await ctx.client.call<WorkSetResource>(
          'POST',
          `${objectPath(ctx, 'manifestworkreplicasets', ctx.args[0])}/pause`,
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
          `${objectPath(ctx, 'manifestworkreplicasets', ctx.args[0])}/resume`,
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
        let last = show(await ctx.client.call<WorkSetResource>('GET', path));
        ctx.out(last);
        if (!ctx.flags.watch) return;
        // Like `kubectl get -w`: poll once a second and print only when something changed.
        for (;;) {
          await new Promise((r) => setTimeout(r, 1_000));
          const next = show(await ctx.client.call<WorkSetResource>('GET', path));
          if (next !== last) ctx.out(`\n${next}`);
          last = next;
        }
      },
    },
  },
  audit: {
    list: {
      usage: 'audit list [--limit 50]',
      summary: 'recent audit events, newest first',
      options: { limit: { type: 'string' } },
      async run(ctx) {
        const l = await ctx.client.call<
          List<{ at: string; actor: string; action: string; resource: string; result: string }>
        >('GET', `/api/v1/auditevents?limit=${enc((ctx.flags.limit as string | undefined) ?? '50')}`);
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

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

interface PlacementResource {
  metadata: { name: string; namespace?: string; creationTimestamp: string; generation?: number };
  spec: {
    numberOfClusters?: number;
    predicates?: unknown[];
    prioritizerPolicy?: { mode?: string };
    tolerations?: { key?: string; operator?: string; value?: string }[];
  };
  status: {
    numberOfSelectedClusters: number;
    decisionGroups: { decisionGroupName?: string; decisionGroupIndex?: number; clusterCount?: number }[];
    decisions?: { groupName: string; groupIndex: number; clusterNames: string[] }[];
    conditions: Condition[];
  };
}

interface WorkSetResource {
  metadata: { name: string; namespace?: string; creationTimestamp: string; generation?: number };
  spec: {
    placementRefs: { name: string; rolloutStrategy?: { type?: string } }[];
    paused?: boolean;
    templating?: boolean;
    overrides?: { name: string }[];
    cascadeDeletionPolicy?: string;
    manifestWorkTemplate?: { workload?: { manifests?: unknown[] } };
  };
  status?: ManifestWorkReplicaSetStatus;
}

/** Conditions as `kubectl describe` shows them. */
function conditionTable(conditions: Condition[]): string {
  if (conditions.length === 0) return 'conditions:   none yet\n';
  return table(
    ['CONDITION', 'STATUS', 'REASON', 'SINCE', 'MESSAGE'],
    conditions.map((x) => [
      x.type,
      x.status,
      x.reason || '-',
      x.lastTransitionTime ? age(x.lastTransitionTime) : '-',
      (x.message ?? '').length > 100 ? `${(x.message as string).slice(0, 99)}…` : x.message || '-',
    ]),
  );
}

/** `placement get`: its selection, decisions by group, and conditions. */
function describePlacement(p: PlacementResource): string {
  const tolerations = (p.spec.tolerations ?? []).map((t) => `${t.key ?? '*'}${t.value ? `=${t.value}` : ''}`);
  const lines = [
    `name:         ${p.metadata.name}`,
    `namespace:    ${p.metadata.namespace ?? 'default'}`,
    `created:      ${p.metadata.creationTimestamp} (${age(p.metadata.creationTimestamp)})`,
    `wants:        ${p.spec.numberOfClusters ?? 'every matching'} cluster(s), ${(p.spec.predicates ?? []).length} predicate(s)${p.spec.prioritizerPolicy?.mode ? `, prioritizers ${p.spec.prioritizerPolicy.mode}` : ''}`,
    `tolerations:  ${tolerations.join(', ') || '-'}`,
    `selected:     ${p.status.numberOfSelectedClusters}`,
    '',
  ];
  const decisions = p.status.decisions ?? [];
  lines.push(
    decisions.length
      ? table(
          ['GROUP', 'CLUSTERS'],
          decisions.map((d) => [
            d.groupName ? `${d.groupName} (#${d.groupIndex})` : `#${d.groupIndex}`,
            d.clusterNames.join(', ') || '-',
          ]),
        ).trimEnd()
      : 'decisions:    none',
    '',
    conditionTable(p.status.conditions).trimEnd(),
  );
  return `${lines.join('\n')}\n`;
}

/** `workset get`: what it hands out where, how, then its rollout (as `workset status`). */
function describeWorkSet(w: WorkSetResource): string {
  const refs = w.spec.placementRefs.map((r) => `${r.name} (${r.rolloutStrategy?.type ?? 'All'})`);
  const lines = [
    `name:         ${w.metadata.name}`,
    `namespace:    ${w.metadata.namespace ?? 'default'}`,
    `created:      ${w.metadata.creationTimestamp} (${age(w.metadata.creationTimestamp)})`,
    `placements:   ${refs.join(', ') || '-'}`,
    `manifests:    ${w.spec.manifestWorkTemplate?.workload?.manifests?.length ?? 0}${w.spec.templating ? ' (templating)' : ''}`,
    `overrides:    ${(w.spec.overrides ?? []).map((o) => o.name).join(', ') || '-'}`,
    `paused:       ${w.spec.paused === true}`,
    `on delete:    ${w.spec.cascadeDeletionPolicy ?? 'Background'}`,
    '',
    w.status ? conditionTable(w.status.conditions).trimEnd() : 'status:       none yet (the controller has not run)',
    '',
  ];
  return `${lines.join('\n')}${w.status ? workSetStatusText(w) : ''}`;
}

/** `workset status`: the summary, the conditions, then one row per cluster of the rollout. */
function workSetStatusText(w: WorkSetResource): string {
  const st = w.status;
  if (!st) return `manifestworkreplicaset ${w.metadata.name}: no status yet (the controller has not run)\n`;
  const sum = (x: ManifestWorkReplicaSetStatus['summary']) =>
    `total ${x.total}, applied ${x.applied}, available ${x.available}, degraded ${x.degraded}, progressing ${x.progressing}`;
  const lines = [`${w.metadata.name}: ${sum(st.summary)}`];
  for (const p of st.placementSummary) {
    lines.push(`  placement ${p.name}: ${sum(p.summary)}; available groups ${p.availableDecisionGroups}`);
  }
  lines.push(`  conditions: ${st.conditions.map((c) => `${c.type}=${c.status}`).join(' ')}`);
  if (st.rollout?.message) lines.push(`  ${st.rollout.message}`);
  const rows = (st.rollout?.clusters ?? []).map((c) => [
    c.placement,
    c.groupName ? `${c.groupName} (#${c.groupIndex})` : `#${c.groupIndex}`,
    c.name,
    c.state,
    c.reason.length > 80 ? `${c.reason.slice(0, 79)}…` : c.reason || '-',
  ]);
  const omitted = st.rollout?.clustersOmitted ? `(${st.rollout.clustersOmitted} more clusters not listed)\n` : '';
  return `${lines.join('\n')}\n\n${rows.length ? table(['PLACEMENT', 'GROUP', 'CLUSTER', 'STATE', 'REASON'], rows) : 'no clusters selected\n'}${omitted}`;
}

function placementTable(items: PlacementResource[]): string {
  return table(
    ['NAMESPACE', 'NAME', 'SELECTED', 'GROUPS', 'SATISFIED', 'AGE'],
    items.map((p) => [
      p.metadata.namespace ?? 'default',
      p.metadata.name,
      String(p.status.numberOfSelectedClusters),
      String(p.status.decisionGroups.length),
      p.status.conditions.find((c) => c.type === 'PlacementSatisfied')?.status ?? '-',
      age(p.metadata.creationTimestamp),
    ]),
  );
}

interface ClusterSetResource {
  metadata: { name: string; creationTimestamp: string };
  spec: { clusterSelector: { selectorType: string; labelSelector?: { matchLabels?: Record<string, string> } } };
  status: { conditions: Condition[] };
}

interface BindingResource {
  metadata: { name: string; namespace: string; creationTimestamp: string };
  status: { conditions: Condition[] };
}

function clusterSetTable(items: ClusterSetResource[]): string {
  return table(
    ['NAME', 'SELECTOR', 'CLUSTERS', 'AGE'],
    items.map((s) => {
      const sel = s.spec.clusterSelector;
      const members = s.status.conditions.find((c) => c.type === 'ClusterSetEmpty');
      return [
        s.metadata.name,
        sel.selectorType === 'LabelSelector'
          ? `labels ${JSON.stringify(sel.labelSelector ?? {})}`
          : `label cluster.open-cluster-management.io/clusterset=${s.metadata.name}${s.metadata.name === 'default' ? ' (or none)' : ''}`,
        members?.message ?? '-',
        age(s.metadata.creationTimestamp),
      ];
    }),
  );
}

function workSetTable(items: WorkSetResource[]): string {
  return table(
    ['NAMESPACE', 'NAME', 'PLACEMENTS', 'PAUSED', 'AGE'],
    items.map((w) => [
      w.metadata.namespace ?? 'default',
      w.metadata.name,
      w.spec.placementRefs.map((r) => r.name).join(',') || '-',
      String(w.spec.paused === true),
      age(w.metadata.creationTimestamp),
    ]),
  );
}

/** Every page of a name-keyed list, with -l as the labelSelector. */
async function listAll<T>(ctx: Ctx, path: string): Promise<T[]> {
  const items: T[] = [];
  let cont = '';
  do {
    const q = new URLSearchParams({ limit: '500' });
    if (cont) q.set('continue', cont);
    if (ctx.flags.selector) q.set('labelSelector', ctx.flags.selector as string);
    const page = await ctx.client.call<List<T>>('GET', `${path}?${q}`);
    items.push(...page.items);
    cont = page.metadata.continue ?? '';
  } while (cont);
  return items;
}

interface WorkResource {
  metadata: {
    name: string;
    namespace: string;
    generation: number;
    deletionTimestamp?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
  };
  spec?: {
    workload?: { manifests?: { kind?: string; metadata?: { name?: string; namespace?: string } }[] };
    deleteOption?: { propagationPolicy?: string };
  };
  status: {
    conditions?: Condition[];
    manifestCount: number;
    sizeBytes: number;
    observedGeneration?: number;
    observedAt?: string;
    resourceStatus?: { manifests?: { resourceMeta?: { ordinal?: number }; conditions?: Condition[] }[] };
  };
}

/** Manifest rows `work get` shows at most (a work may hold 10,000). */
const describedManifests = 200;

/** `work get`: the work, its conditions, then each manifest with what the agent reported of it. */
function describeWork(w: WorkResource): string {
  const labels = Object.entries(w.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  const st = w.status;
  const lines = [
    `name:         ${w.metadata.name}`,
    `cluster:      ${w.metadata.namespace}`,
    `labels:       ${labels.join(', ') || '-'}`,
    `created:      ${w.metadata.creationTimestamp ? `${w.metadata.creationTimestamp} (${age(w.metadata.creationTimestamp)})` : '-'}`,
    `generation:   ${w.metadata.generation} (the agent reported ${st.observedGeneration ?? 'none yet'}${st.observedAt ? `, ${age(st.observedAt)} ago` : ''})`,
    `size:         ${st.manifestCount} manifest(s), ${st.sizeBytes} bytes`,
    `on delete:    ${w.spec?.deleteOption?.propagationPolicy ?? 'Foreground'}`,
  ];
  if (w.metadata.deletionTimestamp) lines.push(`deleting:     since ${w.metadata.deletionTimestamp}`);
  lines.push('', conditionTable(st.conditions ?? []).trimEnd(), '');
  const reported = new Map<number, Condition[]>();
  for (const m of st.resourceStatus?.manifests ?? []) {
    if (typeof m.resourceMeta?.ordinal === 'number') reported.set(m.resourceMeta.ordinal, m.conditions ?? []);
  }
  const manifests = w.spec?.workload?.manifests ?? [];
  const of = (c: Condition[] | undefined, type: string) => c?.find((x) => x.type === type)?.status ?? '-';
  const rows = manifests.slice(0, describedManifests).map((m, i) => {
    const c = reported.get(i);
    const problem = c?.find((x) => x.status !== 'True' && x.message);
    const ns = m.metadata?.namespace;
    return [
      String(i),
      m.kind ?? '-',
      `${ns ? `${ns}/` : ''}${m.metadata?.name ?? '-'}`,
      of(c, 'Applied'),
      of(c, 'Available'),
      problem?.message ? problem.message.slice(0, 80) : '-',
    ];
  });
  lines.push(
    rows.length
      ? table(['#', 'KIND', 'NAME', 'APPLIED', 'AVAILABLE', 'MESSAGE'], rows).trimEnd()
      : 'manifests:    none',
  );
  if (manifests.length > describedManifests) {
    lines.push(`(${manifests.length - describedManifests} more manifests; -o yaml shows them all)`);
  }
  return `${lines.join('\n')}\n`;
}

function requireCluster(ctx: Ctx): string {
  if (typeof ctx.flags.cluster !== 'string' || !ctx.flags.cluster)
    throw new ConfigError('this command needs --cluster NAME');
  return ctx.flags.cluster;
}

function workTable(items: WorkResource[]): string {
  const cond = (w: WorkResource, t: string) => w.status.conditions?.find((c) => c.type === t)?.status ?? '-';
  return table(
    ['CLUSTER', 'NAME', 'GENERATION', 'MANIFESTS', 'SIZE', 'APPLIED', 'AVAILABLE', 'DEGRADED', 'DELETING'],
    items.map((w) => [
      w.metadata.namespace,
      w.metadata.name,
      String(w.metadata.generation),
      String(w.status.manifestCount),
      w.status.sizeBytes >= 1024 * 1024
        ? `${(w.status.sizeBytes / 1024 / 1024).toFixed(1)}Mi`
        : `${Math.ceil(w.status.sizeBytes / 1024)}Ki`,
      cond(w, 'Applied'),
      cond(w, 'Available'),
      cond(w, 'Degraded'),
      w.metadata.deletionTimestamp ? 'yes' : '-',
    ]),
  );
}

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
