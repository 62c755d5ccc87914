// The storage a state store runs on: two small documents written with optimistic
// concurrency (the index and the outbox) and immutable, uniquely named parts. The store
// logic (store.ts, outbox.ts) is the same over Secrets (kube.ts) and files (files.ts).
import type { Part } from './model.ts';

export const docNames = { index: 'index', outbox: 'outbox' } as const;
export type DocName = keyof typeof docNames;

export interface StoredDoc {
  bytes: Buffer;
  /** Opaque: a Secret's resourceVersion, a file's checksum. */
  version: string;
}

export interface PartInfo {
  name: string;
  /** Creation time (ms since the epoch) when the backend knows it. */
  createdAt: number | undefined;
}

/** One read of everything, as consistent as the backend can make it. */
export interface BackendView {
  index: StoredDoc | undefined;
  outbox: StoredDoc | undefined;
  parts: PartInfo[];
  /** A part's bytes, or undefined when it does not exist (any more). */
  readPart(name: string): Promise<Buffer | undefined>;
}

export type WriteResult = { ok: true; version: string } | { ok: false };

export interface StateBackend {
  /** For messages: `Secrets in namespace x`, `directory /y`. */
  readonly description: string;
  /** Largest compressed document the backend takes in one object. */
  readonly docBytes: number;
  /** Largest part; longer blobs are split. */
  readonly partBytes: number;
  view(): Promise<BackendView>;
  readDoc(name: DocName): Promise<StoredDoc | undefined>;
  /**
   * Writes `bytes` when the document is still at `version` (undefined: it must not exist);
   * `{ ok: false }` when another writer came first.
   */
  writeDoc(name: DocName, bytes: Buffer, version: string | undefined): Promise<WriteResult>;
  /** Creates parts durably (all of them before it resolves). */
  writeParts(parts: Part[]): Promise<void>;
  readParts(names: string[]): Promise<(Buffer | undefined)[]>;
  /** Deletes parts; missing ones are fine. */
  deleteParts(names: string[]): Promise<void>;
}
