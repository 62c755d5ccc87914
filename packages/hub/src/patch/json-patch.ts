// RFC 6902 JSON patch: a list of operations at JSON pointers (RFC 6901). It reaches one
// element of a list (`/spec/workload/manifests/3/data/key`), which a merge patch cannot:
// that is how one manifest of a large work changes without sending the others again.
import { apiError } from '@outpost/shared';

export interface PatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

const ops = ['add', 'remove', 'replace', 'move', 'copy', 'test'] as const;

type Container = Record<string, unknown> | unknown[];

const isContainer = (v: unknown): v is Container => typeof v === 'object' && v !== null;

/** The reference tokens of a JSON pointer ("" is the whole document). */
export function pointerTokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw apiError('VALIDATION_FAILED', `${JSON.stringify(pointer)} is not a JSON pointer`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** Checks the shape of a JSON patch document (a list of operations). */
export function checkOperations(patch: unknown): PatchOperation[] {
  if (!Array.isArray(patch)) throw apiError('VALIDATION_FAILED', 'a JSON patch is a list of operations');
  patch.forEach((o: unknown, i) => {
    const op = o as Partial<PatchOperation> | null;
    const bad = (why: string) => apiError('VALIDATION_FAILED', `operation ${i}: ${why}`, { operation: i });
    if (typeof op !== 'object' || op === null || Array.isArray(op)) throw bad('must be an object');
    if (!ops.includes(op.op as PatchOperation['op'])) throw bad(`op must be one of ${ops.join(', ')}`);
    if (typeof op.path !== 'string') throw bad('path must be a JSON pointer');
    if ((op.op === 'move' || op.op === 'copy') && typeof op.from !== 'string') throw bad('from must be a JSON pointer');
    if ((op.op === 'add' || op.op === 'replace' || op.op === 'test') && !('value' in op)) throw bad('value is missing');
  });
  return patch as PatchOperation[];
}

/** Index `token` of `list`; `end` allows "-" and the length (where add appends). */
function indexOf(list: unknown[], token: string, end: boolean, path: string): number {
  if (end && token === '-') return list.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw apiError('VALIDATION_FAILED', `${path}: ${token} is not a list index`);
  const i = Number(token);
  if (i > list.length || (!end && i === list.length)) {
    throw apiError('VALIDATION_FAILED', `${path}: index ${i} is out of range (the list has ${list.length})`);
  }
  return i;
}

/** The container holding the value `path` names, and its last token. */
function parentOf(doc: unknown, path: string): { parent: Container; key: string } {
  const tokens = pointerTokens(path);
  const key = tokens.pop();
  if (key === undefined) throw apiError('VALIDATION_FAILED', 'an operation on the whole object is not allowed');
  let at: unknown = doc;
  for (const t of tokens) {
    if (Array.isArray(at)) at = at[indexOf(at, t, false, path)];
    else if (isContainer(at) && Object.hasOwn(at, t)) at = (at as Record<string, unknown>)[t];
    else throw apiError('VALIDATION_FAILED', `${path}: there is nothing at ${JSON.stringify(t)}`);
  }
  if (!isContainer(at)) throw apiError('VALIDATION_FAILED', `${path}: the parent is not an object or a list`);
  return { parent: at, key };
}

function get(doc: unknown, path: string): unknown {
  const { parent, key } = parentOf(doc, path);
  if (Array.isArray(parent)) return parent[indexOf(parent, key, false, path)];
  if (!Object.hasOwn(parent, key)) throw apiError('VALIDATION_FAILED', `${path}: there is nothing there`);
  return parent[key];
}

function remove(doc: unknown, path: string): unknown {
  const { parent, key } = parentOf(doc, path);
  if (Array.isArray(parent)) return parent.splice(indexOf(parent, key, false, path), 1)[0];
  if (!Object.hasOwn(parent, key)) throw apiError('VALIDATION_FAILED', `${path}: there is nothing to remove`);
  const v = parent[key];
  delete parent[key];
  return v;
}

function add(doc: unknown, path: string, value: unknown): void {
  const { parent, key } = parentOf(doc, path);
  if (Array.isArray(parent)) parent.splice(indexOf(parent, key, true, path), 0, value);
  else parent[key] = value;
}

const copyOf = (v: unknown): unknown => (v === undefined ? v : structuredClone(v));

/**
 * Applies `operations` to `doc` in place (pass a copy you own). A failed `test` throws
 * CONFLICT: it is a precondition, as a stated resourceVersion is.
 */
export function applyJsonPatch(doc: unknown, operations: readonly PatchOperation[]): void {
  for (const o of operations) {
    switch (o.op) {
      case 'add':
        add(doc, o.path, copyOf(o.value));
        break;
      case 'remove':
        remove(doc, o.path);
        break;
      case 'replace':
        get(doc, o.path);
        remove(doc, o.path);
        add(doc, o.path, copyOf(o.value));
        break;
      case 'move': {
        const from = o.from as string;
        if (o.path.startsWith(`${from}/`)) throw apiError('VALIDATION_FAILED', `${o.path}: cannot move into itself`);
        add(doc, o.path, remove(doc, from));
        break;
      }
      case 'copy':
        add(doc, o.path, copyOf(get(doc, o.from as string)));
        break;
      case 'test':
        if (!equal(get(doc, o.path), o.value)) {
          throw apiError('CONFLICT', `test failed: ${o.path} is not ${JSON.stringify(o.value).slice(0, 200)}`, {
            path: o.path,
          });
        }
        break;
    }
  }
}

/** JSON equality (RFC 6902 section 4.6: key order does not matter). */
function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => equal(v, b[i]));
  if (!isContainer(a) || !isContainer(b) || Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return (
    ka.length === kb.length &&
    ka.every((k) => Object.hasOwn(b, k) && equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}
