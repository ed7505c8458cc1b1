// What the kubernetes provider makes of the API server's answers: which ones to retry (429,
// 5xx, a dropped connection), how long to wait (Retry-After first, else backoff with full
// jitter), and which ProvisionError kind an answer is, so the provisioning layer reacts
// without parsing messages. Pure functions and one small retry loop with an injected sleep.
import type { V1Pod } from '@kubernetes/client-node';
import { ProvisionError, type ProvisionErrorKind } from './provider.js';

/** The parts of the client library's ApiException this module reads. */
interface ApiErrorLike {
  code: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export function isApiError(err: unknown): err is ApiErrorLike {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'number' &&
    (err as { code: number }).code >= 100
  );
}

export function statusOf(err: unknown): number | null {
  return isApiError(err) ? err.code : null;
}

/** The Status object the API server answers with: its message and reason, when there is one. */
export function apiStatus(err: ApiErrorLike): { message?: string; reason?: string } {
  let body = err.body;
  if (typeof body === 'string') {
    const text = body;
    try {
      body = JSON.parse(text);
    } catch {
      return { message: text.slice(0, 300) };
    }
  }
  if (typeof body === 'object' && body !== null) {
    const b = body as { message?: unknown; reason?: unknown };
    return {
      message: typeof b.message === 'string' ? b.message : undefined,
      reason: typeof b.reason === 'string' ? b.reason : undefined,
    };
  }
  return {};
}

/** Retry-After in ms: delta seconds or an HTTP date; undefined when absent or malformed. */
export function retryAfterMs(
  headers: Record<string, string> | undefined,
  now: number = Date.now(),
): number | undefined {
  if (!headers) return undefined;
  const raw = Object.entries(headers).find(([k]) => k.toLowerCase() === 'retry-after')?.[1];
  if (raw === undefined) return undefined;
  const v = raw.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** A connection that failed or dropped before an answer (node-fetch's FetchError, undici's). */
export function isNetworkError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; errno?: unknown; type?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  if (typeof e.errno === 'string' && NETWORK_CODES.has(e.errno)) return true;
  if (e.type === 'system' || e.type === 'request-timeout') return true;
  return e.cause !== undefined && e.cause !== err && isNetworkError(e.cause);
}

/** Worth asking again: throttled, the server's fault, or no answer at all. */
export function isRetryable(err: unknown): boolean {
  const code = statusOf(err);
  if (code !== null) return code === 429 || (code >= 500 && code !== 501);
  return isNetworkError(err);
}

/**
 * The typed error for a failed API call. `what` says what was being done ("create pod hoist-x"),
 * so the message names the call, the answer and what to do about it.
 */
export function toProvisionError(err: unknown, what: string): ProvisionError {
  if (err instanceof ProvisionError) return err;
  if (isApiError(err)) {
    const { message, reason } = apiStatus(err);
    const said = message ? `: ${message}` : '';
    const kind = kindOfStatus(err.code, message ?? '', reason);
    let hint = '';
    if (err.code === 401)
      hint = '; the kubeconfig or service-account token is not accepted (expired or wrong cluster)';
    else if (err.code === 403 && kind === 'permanent')
      hint =
        "; give Hoist's service account a Role in this namespace for pods, persistentvolumeclaims and secrets (see the README's Running on Kubernetes)";
    else if (err.code === 404 && /namespaces? "/.test(message ?? ''))
      hint = '; create the namespace or set --kubernetes-namespace';
    else if (kind === 'quota') hint = "; raise the namespace's ResourceQuota or lower the builders' requests";
    return new ProvisionError(kind, `Kubernetes API ${what} failed (HTTP ${err.code}${said})${hint}`, {
      retryAfterMs: err.code === 429 || err.code === 503 ? retryAfterMs(err.headers) : undefined,
      cause: err,
    });
  }
  if (isNetworkError(err)) {
    const e = err as { message?: string };
    return new ProvisionError(
      'transient',
      `Kubernetes API ${what} failed: cannot reach the API server (${e.message ?? String(err)})`,
      { cause: err },
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ProvisionError('transient', `Kubernetes API ${what} failed: ${message}`, { cause: err });
}

export function kindOfStatus(code: number, message: string, reason?: string): ProvisionErrorKind {
  if (code === 429) return 'rate-limited';
  // A ResourceQuota refuses with 403 "exceeded quota"; a LimitRange with 403 too.
  if (code === 403 && /exceeded quota|forbidden: (maximum|minimum)/i.test(message)) return 'quota';
  if (code >= 500) return 'transient';
  if (code === 409 || reason === 'Conflict' || reason === 'AlreadyExists') return 'transient';
  return 'permanent';
}

export interface RetryOptions {
  /** Tries in all, the first included. */
  attempts: number;
  baseMs: number;
  maxMs: number;
  sleep: (ms: number) => Promise<void>;
  random?: () => number;
}

export const DEFAULT_RETRY: Omit<RetryOptions, 'sleep'> = { attempts: 4, baseMs: 200, maxMs: 5000 };

/** The wait before try `attempt + 1`: the server's Retry-After when it said, else full jitter. */
export function backoffMs(
  attempt: number,
  err: unknown,
  opts: Pick<RetryOptions, 'baseMs' | 'maxMs' | 'random'>,
): number {
  const asked = isApiError(err) ? retryAfterMs(err.headers) : undefined;
  if (asked !== undefined) return Math.min(asked, opts.maxMs * 6);
  const ceiling = Math.min(opts.maxMs, opts.baseMs * 2 ** attempt);
  return Math.floor((opts.random ?? Math.random)() * ceiling);
}

/**
 * Runs `fn`, asking again on 429, 5xx and dropped connections a bounded number of times; any
 * other answer, or the last one, becomes a ProvisionError.
 */
export async function withRetry<T>(what: string, fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isRetryable(err) || attempt + 1 >= opts.attempts) throw toProvisionError(err, what);
      await opts.sleep(backoffMs(attempt, err, opts));
    }
  }
}

/**
 * Why a builder pod cannot become ready, when that is already certain: a failed scheduling for
 * lack of room (capacity), no node for its architecture, an image that cannot be pulled, a
 * container that keeps crashing. null while it may still come up.
 */
export function podFailure(pod: V1Pod): { kind: ProvisionErrorKind; message: string } | null {
  const status = pod.status;
  if (!status) return null;
  if (status.phase === 'Failed' || status.phase === 'Succeeded') {
    return {
      kind: 'transient',
      message: `pod ${pod.metadata?.name} ended (${status.phase}${status.reason ? `, ${status.reason}` : ''}${status.message ? `: ${status.message}` : ''})`,
    };
  }
  const scheduled = status.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    const msg = scheduled.message ?? '';
    if (/Insufficient (cpu|memory|ephemeral-storage|pods)|Too many pods/i.test(msg)) {
      return { kind: 'capacity', message: `no node has room for builder pod ${pod.metadata?.name}: ${msg}` };
    }
    if (/node affinity|node selector|didn't match Pod's node/i.test(msg)) {
      const arch = pod.spec?.nodeSelector?.['kubernetes.io/arch'];
      return {
        kind: 'permanent',
        message: `no node matches builder pod ${pod.metadata?.name}'s node selector${arch ? ` (kubernetes.io/arch=${arch})` : ''}: ${msg}; add such nodes or change --kubernetes-node-selector`,
      };
    }
  }
  for (const cs of [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])]) {
    const w = cs.state?.waiting;
    if (!w?.reason) continue;
    if (['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull'].includes(w.reason)) {
      return {
        kind: 'permanent',
        message: `builder pod ${pod.metadata?.name} cannot pull its image ${cs.image} (${w.reason}${w.message ? `: ${w.message}` : ''}); check --kubernetes-image and the registry`,
      };
    }
    if (['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError'].includes(w.reason)) {
      return {
        kind: 'permanent',
        message: `builder pod ${pod.metadata?.name} cannot start its container (${w.reason}${w.message ? `: ${w.message}` : ''})`,
      };
    }
    if (w.reason === 'CrashLoopBackOff') {
      const last = cs.lastState?.terminated;
      return {
        kind: 'transient',
        message: `buildkitd in pod ${pod.metadata?.name} keeps exiting${last ? ` (exit code ${last.exitCode}${last.reason ? `, ${last.reason}` : ''}${last.message ? `: ${last.message.slice(-300)}` : ''})` : ''}`,
      };
    }
  }
  return null;
}

/** Is the pod running with its container started and an IP to reach it at? */
export function podRunning(pod: V1Pod): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  if (pod.status?.phase !== 'Running' || !pod.status.podIP) return false;
  const cs = pod.status.containerStatuses?.find((c) => c.name === 'buildkitd');
  return cs?.state?.running !== undefined;
}
