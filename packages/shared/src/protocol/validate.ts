// Checks what an agent sends against the protocol's types before the hub stores any of it:
// a stored value is later read by every admin list, /metrics and the workset controller,
// so one agent's malformed report must be refused at the door, for that agent alone.
import { apiError } from '../errors.ts';
import type { Condition, ManifestStatus, StatusBatch, StatusReport, WorkStatus } from './sync.ts';

/** Bounds a sane agent stays far below; they keep one stored status cheap to read. */
export const statusLimits = {
  reportsPerBatch: 1000,
  conditionsPerList: 64,
  manifestsPerWork: 100_000,
  feedbackValuesPerManifest: 256,
  nameMax: 253,
  stringMax: 64 * 1024,
} as const;

class Invalid extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function obj(v: unknown, path: string): Record<string, unknown> {
  if (!isObject(v)) throw new Invalid(`${path} must be an object`);
  return v;
}

function list(v: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(v)) throw new Invalid(`${path} must be a list`);
  if (v.length > max) throw new Invalid(`${path} has more than ${max} entries`);
  return v;
}

function str(v: unknown, path: string, max: number = statusLimits.stringMax): string {
  if (typeof v !== 'string') throw new Invalid(`${path} must be a string`);
  if (v.length > max) throw new Invalid(`${path} is longer than ${max} characters`);
  return v;
}

function optStr(v: unknown, path: string, max?: number): void {
  if (v !== undefined) str(v, path, max);
}

function int(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new Invalid(`${path} must be a non-negative integer`);
  }
  return v;
}

function optInt(v: unknown, path: string): void {
  if (v !== undefined) int(v, path);
}

const conditionStatuses = new Set(['True', 'False', 'Unknown']);

function condition(v: unknown, path: string): Condition {
  const c = obj(v, path);
  str(c.type, `${path}.type`, 316);
  if (typeof c.status !== 'string' || !conditionStatuses.has(c.status)) {
    throw new Invalid(`${path}.status must be True, False or Unknown`);
  }
  str(c.reason, `${path}.reason`, 1024);
  str(c.message, `${path}.message`);
  optStr(c.lastTransitionTime, `${path}.lastTransitionTime`, 64);
  optInt(c.observedGeneration, `${path}.observedGeneration`);
  return c as unknown as Condition;
}

function conditions(v: unknown, path: string): void {
  for (const [i, c] of list(v, path, statusLimits.conditionsPerList).entries()) condition(c, `${path}[${i}]`);
}

const feedbackTypes = new Set(['Integer', 'String', 'Boolean', 'JsonRaw']);

function manifest(v: unknown, path: string): ManifestStatus {
  const m = obj(v, path);
  const meta = obj(m.resourceMeta, `${path}.resourceMeta`);
  for (const k of ['group', 'version', 'kind', 'resource', 'namespace', 'name']) {
    str(meta[k], `${path}.resourceMeta.${k}`, statusLimits.nameMax);
  }
  int(meta.ordinal, `${path}.resourceMeta.ordinal`);
  conditions(m.conditions, `${path}.conditions`);
  if (m.statusFeedback !== undefined) {
    const fb = obj(m.statusFeedback, `${path}.statusFeedback`);
    const values = list(fb.values, `${path}.statusFeedback.values`, statusLimits.feedbackValuesPerManifest);
    for (const [i, raw] of values.entries()) {
      const p = `${path}.statusFeedback.values[${i}]`;
      const fv = obj(raw, p);
      str(fv.name, `${p}.name`, statusLimits.nameMax);
      const value = obj(fv.fieldValue, `${p}.fieldValue`);
      if (typeof value.type !== 'string' || !feedbackTypes.has(value.type)) {
        throw new Invalid(`${p}.fieldValue.type must be Integer, String, Boolean or JsonRaw`);
      }
      if (value.integer !== undefined && (typeof value.integer !== 'number' || !Number.isFinite(value.integer))) {
        throw new Invalid(`${p}.fieldValue.integer must be a number`);
      }
      optStr(value.string, `${p}.fieldValue.string`);
      if (value.boolean !== undefined && typeof value.boolean !== 'boolean') {
        throw new Invalid(`${p}.fieldValue.boolean must be a boolean`);
      }
      optStr(value.jsonRaw, `${p}.fieldValue.jsonRaw`);
    }
  }
  return m as unknown as ManifestStatus;
}

function workStatus(v: unknown, path: string): WorkStatus {
  const s = obj(v, path);
  conditions(s.conditions, `${path}.conditions`);
  const rs = obj(s.resourceStatus, `${path}.resourceStatus`);
  for (const [i, m] of list(
    rs.manifests,
    `${path}.resourceStatus.manifests`,
    statusLimits.manifestsPerWork,
  ).entries()) {
    manifest(m, `${path}.resourceStatus.manifests[${i}]`);
  }
  int(s.observedGeneration, `${path}.observedGeneration`);
  optInt(s.corrections, `${path}.corrections`);
  return s as unknown as WorkStatus;
}

function report(v: unknown, path: string): StatusReport {
  const r = obj(v, path);
  int(r.seq, `${path}.seq`);
  str(r.work, `${path}.work`, statusLimits.nameMax);
  str(r.uid, `${path}.uid`, 64);
  int(r.generation, `${path}.generation`);
  str(r.observedAt, `${path}.observedAt`, 64);
  workStatus(r.status, `${path}.status`);
  if (r.deleted !== undefined && typeof r.deleted !== 'boolean') throw new Invalid(`${path}.deleted must be a boolean`);
  return r as unknown as StatusReport;
}

/** The batch as the protocol types it, or STATUS_REPORT_INVALID naming the first bad field. */
export function validateStatusBatch(body: unknown): StatusBatch {
  try {
    const b = obj(body, 'body');
    for (const [i, r] of list(b.reports, 'reports', statusLimits.reportsPerBatch).entries()) report(r, `reports[${i}]`);
    return b as unknown as StatusBatch;
  } catch (err) {
    if (err instanceof Invalid) throw apiError('STATUS_REPORT_INVALID', `status report refused: ${err.message}`);
    throw err;
  }
}
