// Work statuses as the hub stores them: the agent's report as JSON text, and beside it a
// summary with what the hub adds (observedAt, reportedGeneration, completedAt) and what its
// own controllers read (conditions, observedGeneration); the API joins the two when it
// answers (work/resource.ts). A report is validated and turned into text on the body
// thread (parse/body-worker.ts): a status may be megabytes.
import { type Condition, type StatusReport, validateStatusBatch } from '@outpost/shared';
import type { StatusSummary, StoredText } from '../store/index.ts';
import { textPartBytes } from '../store/works.ts';

export { splitText } from '../store/works.ts';

/** A status longer than this (in UTF-8 bytes) is stored in parts of about this size. */
export const statusPartBytes = textPartBytes;

export interface PreparedReport extends Omit<StatusReport, 'status'> {
  /** JSON text of the reported status, without the keys the hub sets itself (UTF-8 bytes
   *  when it came from the body thread)… */
  statusText?: string | Uint8Array;
  /** …or, for a large one, that text in parts (see splitText). */
  statusParts?: StoredText[];
  conditions: Condition[];
  observedGeneration: number;
}

export interface PreparedStatusBatch {
  reports: PreparedReport[];
}

/** Keys of a stored status that the hub writes (and the API adds): an agent's are dropped. */
const hubKeys = ['observedAt', 'reportedGeneration', 'completedAt', 'manifestCount', 'sizeBytes'];

/** Longest condition message kept in the summary (the status keeps it whole). */
const summaryMessageMax = 256;

/** A condition as the summary keeps it: its known fields, the message shortened. */
const summaryCondition = (c: Condition): Condition => ({
  type: c.type,
  status: c.status,
  reason: c.reason,
  message: c.message.length > summaryMessageMax ? `${c.message.slice(0, summaryMessageMax)}…` : c.message,
  ...(c.lastTransitionTime !== undefined ? { lastTransitionTime: c.lastTransitionTime } : {}),
  ...(c.observedGeneration !== undefined ? { observedGeneration: c.observedGeneration } : {}),
});

/** Validates a status batch (STATUS_REPORT_INVALID otherwise) and turns each status into text. */
export function prepareStatusBatch(body: unknown): PreparedStatusBatch {
  const batch = validateStatusBatch(body);
  return {
    reports: batch.reports.map((r) => {
      const own: Record<string, unknown> = { ...r.status };
      for (const k of hubKeys) delete own[k];
      return {
        seq: r.seq,
        work: r.work,
        uid: r.uid,
        generation: r.generation,
        observedAt: r.observedAt,
        ...(r.deleted !== undefined ? { deleted: r.deleted } : {}),
        statusText: JSON.stringify(own),
        conditions: r.status.conditions.map(summaryCondition),
        observedGeneration: r.status.observedGeneration,
      };
    }),
  };
}

/** What to store for a report: the agent's text (or its parts), and the summary with the hub's keys. */
export function storedStatus(
  r: Pick<
    PreparedReport,
    'statusText' | 'statusParts' | 'conditions' | 'observedGeneration' | 'observedAt' | 'generation'
  >,
  completedAt: string | undefined,
): { text: string | Uint8Array; summary: StatusSummary } | { parts: StoredText[]; summary: StatusSummary } {
  const summary: StatusSummary = {
    conditions: r.conditions,
    observedGeneration: r.observedGeneration,
    observedAt: r.observedAt,
    reportedGeneration: r.generation,
    ...(completedAt ? { completedAt } : {}),
  };
  return r.statusParts ? { parts: r.statusParts, summary } : { text: r.statusText ?? '{}', summary };
}
