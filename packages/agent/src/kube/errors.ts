// What the agent's Secret-backed stores share: the labels of everything the agent creates,
// and reading the HTTP status and message of a KubeApiError (kube/secrets.ts).

export const managedByLabels = {
  'app.kubernetes.io/name': 'outpost-agent',
  'app.kubernetes.io/managed-by': 'outpost-agent',
} as const;

/** The HTTP status of a KubeApiError; undefined when no answer came (transient). */
export function kubeStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** `HTTP 409: <the apiserver's message>`, or the error's own message. */
export function describeKubeError(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  let reason = '';
  if (typeof e.body === 'string') {
    try {
      reason = (JSON.parse(e.body) as { message?: string }).message ?? '';
    } catch {
      reason = e.body.slice(0, 200);
    }
  } else if (e.body && typeof e.body === 'object') {
    reason = (e.body as { message?: string }).message ?? '';
  }
  return typeof e.code === 'number' ? `HTTP ${e.code}${reason ? `: ${reason}` : ''}` : (e.message ?? String(err));
}
