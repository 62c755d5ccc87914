// The small JSONPath subset feedback rules and ignoreFields use, as OCM's examples spell it:
// `.status.readyReplicas`, `.metadata.annotations['example.com/key']`, `.spec.items[0]`,
// `.status.conditions[?(@.type=="Ready")].status`, optionally wrapped as `{...}` or rooted
// at `$`. Anything else is refused with a message, never guessed.

export type PathSegment =
  | { key: string }
  | { index: number }
  /** The first list element whose `field` equals `value` (kubectl's `[?(@.field=="value")]`). */
  | { field: string; value: string };

export function parsePath(path: string): PathSegment[] | { error: string } {
  let p = path.trim();
  if (p.startsWith('{') && p.endsWith('}')) p = p.slice(1, -1).trim();
  if (p.startsWith('$')) p = p.slice(1);
  const segs: PathSegment[] = [];
  let i = 0;
  const bad = (why: string) => ({ error: `unsupported JSON path ${JSON.stringify(path)}: ${why}` });
  while (i < p.length) {
    const c = p[i];
    if (c === '.') {
      const m = /^[A-Za-z0-9_\-/$]+/.exec(p.slice(i + 1));
      if (!m) return bad(`expected a field name at offset ${i + 1}`);
      segs.push({ key: m[0] });
      i += 1 + m[0].length;
    } else if (c === '[') {
      const rest = p.slice(i);
      const quoted = /^\[\s*(['"])(.*?)\1\s*\]/.exec(rest);
      const index = /^\[\s*(\d+)\s*\]/.exec(rest);
      const filter = /^\[\s*\?\(\s*@\.([A-Za-z0-9_]+)\s*==\s*(['"])(.*?)\2\s*\)\s*\]/.exec(rest);
      if (quoted) {
        segs.push({ key: quoted[2] as string });
        i += quoted[0].length;
      } else if (index) {
        segs.push({ index: Number(index[1]) });
        i += index[0].length;
      } else if (filter) {
        segs.push({ field: filter[1] as string, value: filter[3] as string });
        i += filter[0].length;
      } else {
        return bad(`unsupported bracket expression at offset ${i}`);
      }
    } else {
      return bad(`unexpected ${JSON.stringify(c)} at offset ${i}`);
    }
  }
  if (segs.length === 0) return bad('empty path');
  return segs;
}

function step(value: unknown, seg: PathSegment): unknown {
  if ('key' in seg) {
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)[seg.key]
      : undefined;
  }
  if (!Array.isArray(value)) return undefined;
  if ('index' in seg) return value[seg.index];
  return value.find(
    (el) => el && typeof el === 'object' && String((el as Record<string, unknown>)[seg.field]) === seg.value,
  );
}

/** The value at `segs`, or undefined when any step is missing. */
export function getPath(obj: unknown, segs: readonly PathSegment[]): unknown {
  let v = obj;
  for (const seg of segs) {
    v = step(v, seg);
    if (v === undefined) return undefined;
  }
  return v;
}

function parentOf(obj: unknown, segs: readonly PathSegment[]): { parent: unknown; last: PathSegment } | undefined {
  const last = segs.at(-1);
  if (!last) return undefined;
  const parent = getPath(obj, segs.slice(0, -1));
  return parent === undefined ? undefined : { parent, last };
}

/** Removes the value at `segs` (a map key or a list element); returns whether something was removed. */
export function deletePath(obj: unknown, segs: readonly PathSegment[]): boolean {
  const at = parentOf(obj, segs);
  if (!at || at.parent === null || typeof at.parent !== 'object') return false;
  const { parent, last } = at;
  if ('key' in last) {
    if (Array.isArray(parent) || !(last.key in parent)) return false;
    delete (parent as Record<string, unknown>)[last.key];
    return true;
  }
  if (!Array.isArray(parent)) return false;
  const idx = 'index' in last ? last.index : parent.indexOf(step(parent, last));
  if (idx < 0 || idx >= parent.length) return false;
  parent.splice(idx, 1);
  return true;
}

/** Replaces the value at `segs` when its parent exists; returns whether it did. */
export function setPath(obj: unknown, segs: readonly PathSegment[], value: unknown): boolean {
  const at = parentOf(obj, segs);
  if (!at || at.parent === null || typeof at.parent !== 'object') return false;
  const { parent, last } = at;
  if ('key' in last) {
    if (Array.isArray(parent)) return false;
    (parent as Record<string, unknown>)[last.key] = value;
    return true;
  }
  if (!Array.isArray(parent)) return false;
  const idx = 'index' in last ? last.index : parent.indexOf(step(parent, last));
  if (idx < 0 || idx >= parent.length) return false;
  parent[idx] = value;
  return true;
}

/** The path as written in managedFields' `fieldsV1` (`f:spec` → `f:replicas`), when it is map keys only. */
export function fieldsV1Keys(segs: readonly PathSegment[]): string[] | undefined {
  const keys: string[] = [];
  for (const s of segs) {
    if (!('key' in s)) return undefined;
    keys.push(`f:${s.key}`);
  }
  return keys;
}
