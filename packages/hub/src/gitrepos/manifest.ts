// What a document of a repository's manifest file must be to be rolled out, checked where the
// file is parsed (the body thread), so that the event loop never reads a manifest: the
// workset's own validation says the rest.

/** Why a document is no manifest; undefined when it is one. */
export function manifestProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || Array.isArray(v) || v === null) return 'a document must be a Kubernetes object';
  const m = v as Record<string, unknown>;
  if (typeof m.apiVersion !== 'string' || m.apiVersion === '') return 'apiVersion is required';
  if (typeof m.kind !== 'string' || m.kind === '') return 'kind is required';
  if (m.kind === 'List') return Array.isArray(m.items) ? undefined : 'a List needs items';
  const meta = m.metadata as Record<string, unknown> | undefined;
  if (
    typeof meta !== 'object' ||
    meta === null ||
    (typeof meta.name !== 'string' && typeof meta.generateName !== 'string')
  ) {
    return 'metadata.name is required';
  }
  return undefined;
}
