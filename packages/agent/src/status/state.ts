// The durable state opened for reading only. The store's load deletes unreferenced parts past
// a grace period; a status command must change nothing, also beside a running agent whose
// save is in flight. So the grace is infinite and, to be certain, every write the backend
// would make is refused.
import type { StateBackend } from '../state/backend.ts';
import { StateError } from '../state/errors.ts';
import { DurableStateStore } from '../state/store.ts';

/** `backend` with its writes refused. */
export function readOnlyBackend(backend: StateBackend): StateBackend {
  const refuse = async (): Promise<never> => {
    throw new StateError('AGENT_STATE_STORE_FAILED', `${backend.description} is open for reading only`);
  };
  return {
    description: backend.description,
    docBytes: backend.docBytes,
    partBytes: backend.partBytes,
    view: () => backend.view(),
    readDoc: (name) => backend.readDoc(name),
    readParts: (names) => backend.readParts(names),
    writeDoc: refuse,
    writeParts: refuse,
    deleteParts: refuse,
  };
}

/** A read-only state store over `backend`, and the warnings its load gives (blobs it skipped). */
export interface StatusState {
  store: DurableStateStore;
  warnings: string[];
}

export function openReadOnlyState(backend: StateBackend): StatusState {
  const warnings: string[] = [];
  const store = new DurableStateStore(readOnlyBackend(backend), {
    orphanGraceMs: Number.POSITIVE_INFINITY,
    log: {
      warn: (obj: object, msg?: string) => {
        const err = 'err' in obj ? `: ${String(obj.err)}` : '';
        warnings.push(`${msg ?? 'warning'}${err}`);
      },
    },
  });
  return { store, warnings };
}
