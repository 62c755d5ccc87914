// Bootstrap tokens: kubeadm's ID.SECRET, the secret shown once and stored hashed.
import { apiError, durations, formatDuration, labelErrors, limits, parseDuration } from '@outpost/shared';
import { hashSecret, randomToken } from '../auth/index.ts';
import type { BootstrapTokenRow, Store } from '../store/index.ts';

export const apiVersion = 'outpost.dev/v1alpha1';

export interface BootstrapTokenSpec {
  ttl?: string | number;
  usageLimit?: number;
  labels?: Record<string, string>;
  autoApprove?: boolean;
  description?: string;
}

export interface BootstrapTokenResource {
  apiVersion: string;
  kind: 'BootstrapToken';
  metadata: { name: string; creationTimestamp: string };
  spec: {
    expiration: string;
    usageLimit: number;
    labels: Record<string, string>;
    autoApprove: boolean;
    description: string;
    boundCluster?: string;
  };
  status: {
    usageCount: number;
    phase: 'Active' | 'Expired' | 'Exhausted' | 'Revoked';
    lastUsed?: string;
    revokedAt?: string;
    createdBy: string;
    /** Only in the answer to create: the whole `ID.SECRET`, never stored or shown again. */
    token?: string;
  };
}

export function tokenPhase(t: BootstrapTokenRow, now: number): BootstrapTokenResource['status']['phase'] {
  if (t.revokedAt) return 'Revoked';
  if (Date.parse(t.expiresAt) <= now) return 'Expired';
  if (t.usageCount >= t.usageLimit) return 'Exhausted';
  return 'Active';
}

export function toResource(t: BootstrapTokenRow, now: number): BootstrapTokenResource {
  const res: BootstrapTokenResource = {
    apiVersion,
    kind: 'BootstrapToken',
    metadata: { name: t.id, creationTimestamp: t.createdAt },
    spec: {
      expiration: t.expiresAt,
      usageLimit: t.usageLimit,
      labels: t.labels,
      autoApprove: t.autoApprove,
      description: t.description,
    },
    status: { usageCount: t.usageCount, phase: tokenPhase(t, now), createdBy: t.createdBy },
  };
  if (t.boundCluster) res.spec.boundCluster = t.boundCluster;
  if (t.lastUsedAt) res.status.lastUsed = t.lastUsedAt;
  if (t.revokedAt) res.status.revokedAt = t.revokedAt;
  return res;
}

/** Validates a create request; accepts the spec alone or wrapped in a BootstrapToken object. */
export function parseTokenSpec(body: unknown): BootstrapTokenSpec {
  const raw = (body && typeof body === 'object' && 'spec' in body ? (body as { spec: unknown }).spec : body) ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw apiError('VALIDATION_FAILED', 'body must be an object');
  const spec = raw as Record<string, unknown>;
  const problems: string[] = [];
  const known = new Set(['ttl', 'usageLimit', 'labels', 'autoApprove', 'description']);
  for (const k of Object.keys(spec)) if (!known.has(k)) problems.push(`unknown field spec.${k.slice(0, 64)}`);
  if (spec.ttl !== undefined && typeof spec.ttl !== 'string' && typeof spec.ttl !== 'number') {
    problems.push('ttl must be a duration such as "1h" or a number of seconds');
  }
  if (
    spec.usageLimit !== undefined &&
    (!Number.isInteger(spec.usageLimit) || (spec.usageLimit as number) < 1 || (spec.usageLimit as number) > 100_000)
  ) {
    problems.push('usageLimit must be an integer from 1 to 100000');
  }
  if (spec.autoApprove !== undefined && typeof spec.autoApprove !== 'boolean')
    problems.push('autoApprove must be true or false');
  if (
    spec.description !== undefined &&
    (typeof spec.description !== 'string' || spec.description.length > limits.descriptionMax)
  ) {
    problems.push(`description must be a string of at most ${limits.descriptionMax} characters`);
  }
  problems.push(...labelErrors(spec.labels, limits.labelsPerObject));
  if (problems.length) throw apiError('VALIDATION_FAILED', problems.join('; '), { problems });
  return spec as BootstrapTokenSpec;
}

/** Inserts a new token; the secret is random, so a transaction that runs this again makes
 *  another token, and only the one of the run that committed is answered. */
export async function createBootstrapToken(
  store: Store,
  spec: BootstrapTokenSpec,
  actor: string,
  now: Date,
  boundCluster: string | null = null,
): Promise<{ row: BootstrapTokenRow; token: string }> {
  const ttlMs = parseDuration(spec.ttl ?? formatDuration(durations.bootstrapTokenTtlMs));
  if (ttlMs === undefined || ttlMs <= 0 || ttlMs > durations.bootstrapTokenTtlMaxMs) {
    throw apiError(
      'VALIDATION_FAILED',
      `ttl must be a positive duration of at most ${formatDuration(durations.bootstrapTokenTtlMaxMs)} (for example "1h")`,
    );
  }
  const id = randomToken(6);
  const secret = randomToken(16);
  const row = {
    id,
    secretHash: hashSecret(secret),
    description: spec.description ?? '',
    labels: spec.labels ?? {},
    autoApprove: spec.autoApprove ?? false,
    usageLimit: spec.usageLimit ?? 1,
    boundCluster,
    createdAt: now.toISOString(),
    createdBy: actor,
    expiresAt: new Date(now.getTime() + ttlMs).toISOString(),
  };
  await store.bootstrapTokens.insert(row);
  return { row: { ...row, usageCount: 0, lastUsedAt: null, revokedAt: null }, token: `${id}.${secret}` };
}
