// Work statuses as the hub stores them: the agent's report as JSON text, and beside it a
// summary with what the hub adds (observedAt, reportedGeneration, completedAt) and what its
// own controllers read (conditions, observedGeneration); the API joins the two when it
// answers (work/resource.ts). A report is validated and turned into text on the body
// thread (parse/body-worker.ts): a status may be megabytes.
import { type Condition, type StatusReport, validateStatusBatch } from '@outpost/shared';
import type { StatusSummary } from '../store/index.ts';

export interface PreparedReport extends Omit<StatusReport, 'status'> {
  /** JSON text of the reported status, without the keys the hub sets itself (UTF-8 bytes
   *  when it came from the body thread). */
  statusText: string | Uint8Array;
  conditions: Condition[];
  observedGeneration: number;
}

export interface PreparedStatusBatch {
  reports: PreparedReport[];
}

/** Keys of a stored status that the hub writes (and the API adds): an agent's are dropped. */
const hubKeys = ['observedAt', 'reportedGeneration', 'completedAt', 'manifestCount', 'sizeBytes'];

/** Validates a status batch (STATUS_REPORT_INVALID otherwise) and turns each status into text. */
export function prepareStatusBatch(body: unknown): PreparedStatusBatch {
  const batch = validateStatusBatch(body);
  return {
    reports: batch.reports.map(({ status, ...r }) => {
      const own: Record<string, unknown> = { ...status };
      for (const k of hubKeys) delete own[k];
      return {
        ...r,
        statusText: JSON.stringify(own),
        conditions: status.conditions,
        observedGeneration: status.observedGeneration,
      };
    }),
  };
}

/** What to store for a report: the agent's text, and the summary with the hub's keys. */
export function storedStatus(
  r: Pick<PreparedReport, 'statusText' | 'conditions' | 'observedGeneration' | 'observedAt' | 'generation'>,
  completedAt: string | undefined,
): { text: string | Uint8Array; summary: StatusSummary } {
  return {
    text: r.statusText,
    summary: {
      conditions: r.conditions,
      observedGeneration: r.observedGeneration,
      observedAt: r.observedAt,
      reportedGeneration: r.generation,
      ...(completedAt ? { completedAt } : {}),
    },
  };
}
