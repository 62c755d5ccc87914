// The agent's own failures, with stable codes (callers match `code`, never `message`) and
// the process exit code the CLI uses: 1 for a failure, 2 for a usage error.
// Codes the hub sends arrive as HubError (transport/errors.ts) with the hub's own code.
import { OutpostError } from '@outpost/shared';

/**
 * Every code the agent itself raises. Add here, never rename: scripts that run
 * `outpost-agent join` match on these strings in its stderr.
 */
export const agentErrorCodes = {
  /** Bad flag or environment value (exit 2). */
  AGENT_CONFIG_INVALID: 'AGENT_CONFIG_INVALID',
  /** No CA in the hub's bundle has a pinned `--ca-cert-hash`. */
  AGENT_CA_PIN_MISMATCH: 'AGENT_CA_PIN_MISMATCH',
  /** The hub's serving certificate does not verify against the pinned or stored CAs. */
  AGENT_HUB_UNTRUSTED: 'AGENT_HUB_UNTRUSTED',
  /** Network failure talking to the hub (refused, reset, timed out). Transient. */
  AGENT_HUB_UNREACHABLE: 'AGENT_HUB_UNREACHABLE',
  /** The hub (or a proxy before it) answered 5xx without an Outpost error body. Transient. */
  AGENT_HUB_UNAVAILABLE: 'AGENT_HUB_UNAVAILABLE',
  /** The hub answered something that is not the agent protocol. */
  AGENT_HUB_BAD_RESPONSE: 'AGENT_HUB_BAD_RESPONSE',
  AGENT_JOIN_TIMEOUT: 'AGENT_JOIN_TIMEOUT',
  AGENT_JOIN_DENIED: 'AGENT_JOIN_DENIED',
  /** `run --listen`: the local listener's address cannot be bound (in use, not this host's). */
  AGENT_LISTEN_FAILED: 'AGENT_LISTEN_FAILED',
  /** Stored credentials belong to another hub or cluster name; `--overwrite` replaces them. */
  AGENT_ALREADY_JOINED_ELSEWHERE: 'AGENT_ALREADY_JOINED_ELSEWHERE',
  /** `run` found no credentials: run `outpost-agent join` first. */
  AGENT_NOT_JOINED: 'AGENT_NOT_JOINED',
  /** Stored credentials are incomplete or inconsistent (key does not match certificate, …). */
  AGENT_CREDENTIALS_INVALID: 'AGENT_CREDENTIALS_INVALID',
  /** Reading or writing the credential store failed (file system or Kubernetes API). */
  AGENT_CREDENTIALS_STORE_FAILED: 'AGENT_CREDENTIALS_STORE_FAILED',
  /** The certificate the hub issued is not for our key or our cluster. */
  AGENT_CERT_MISMATCH: 'AGENT_CERT_MISMATCH',
  /** The kubeconfig (or the pod's service account) cannot be read or uses something unsupported. */
  AGENT_KUBECONFIG_INVALID: 'AGENT_KUBECONFIG_INVALID',
  /** The kubeconfig's exec credential plugin failed or printed no usable credential. Transient. */
  AGENT_KUBE_CREDENTIALS_FAILED: 'AGENT_KUBE_CREDENTIALS_FAILED',
  /** The spoke's kube-apiserver did not answer (refused, reset, TLS failure, timeout). Transient. */
  AGENT_KUBE_UNREACHABLE: 'AGENT_KUBE_UNREACHABLE',
  /** `join --install` or `leave`: the cluster refused an apply, read or delete. */
  AGENT_INSTALL_FAILED: 'AGENT_INSTALL_FAILED',
  /** `join --install`: no agent pod ran and led within --timeout. */
  AGENT_INSTALL_TIMEOUT: 'AGENT_INSTALL_TIMEOUT',
  /** `leave`: an agent still held the Lease (or a pod still ran) at --timeout; works' objects untouched. */
  AGENT_LEAVE_TIMEOUT: 'AGENT_LEAVE_TIMEOUT',
  /** `leave --delete-workloads`: some objects could not be deleted; the state is kept for a re-run. */
  AGENT_LEAVE_INCOMPLETE: 'AGENT_LEAVE_INCOMPLETE',
  /** `run`: the hub's records revoked this cluster's certificate (denied, removed, recovered elsewhere). */
  AGENT_REVOKED: 'AGENT_REVOKED',
} as const;

export type AgentErrorCode = keyof typeof agentErrorCodes;

export class AgentError extends OutpostError {
  readonly exitCode: number;

  constructor(
    code: AgentErrorCode,
    message: string,
    opts: { exitCode?: number; details?: unknown; cause?: unknown } = {},
  ) {
    super(code, message, 0, opts.details);
    this.name = 'AgentError';
    this.exitCode = opts.exitCode ?? 1;
    if (opts.cause !== undefined) this.cause = opts.cause;
  }
}

export class ConfigError extends AgentError {
  constructor(message: string) {
    super('AGENT_CONFIG_INVALID', message, { exitCode: 2 });
    this.name = 'ConfigError';
  }
}
