// What the kubernetes provider knows of its builder pods between its own API calls: one list and
// watch of the pods with its labels (one long-lived request, kept current by the API server's
// events), so a health check needs no request of its own, and a pod being deleted (its
// deletionTimestamp) or no longer running is known as soon as the API server says so. The watch
// speaks only about the pod the provider routes to (the same uid). A pod gone from the watch is
// not taken as gone: another replica may have replaced it under the same name, not yet watched;
// that one rare case, like everything while the watch is down, is asked of the API server.
import * as k8s from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { errorMessage } from '../lib/errors.js';
import type { ProviderLogger } from './provider-options.js';

/** What the watch says about one pod. */
export type PodSighting =
  | { kind: 'present'; pod: V1Pod }
  /** Not connected, not in the watch, or another pod than the one asked about: ask the API server. */
  | { kind: 'unknown' };

/** Pure: what the watch's entry for a pod name tells about the pod with uid `uid`. */
export function sighting(
  cached: V1Pod | undefined,
  uid: string | undefined,
  connected: boolean,
): PodSighting {
  if (connected && uid && cached?.metadata?.uid === uid) return { kind: 'present', pod: cached };
  return { kind: 'unknown' };
}

const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;

export class PodWatch {
  private readonly informer: k8s.Informer<V1Pod> & k8s.ObjectCache<V1Pod>;
  private connected = false;
  private stopped = false;
  private failures = 0;
  /** Errors reported since the watch was made (the informer reports them; its start() never throws). */
  private errors = 0;
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(
    kc: k8s.KubeConfig,
    core: k8s.CoreV1Api,
    private readonly namespace: string,
    labelSelector: string,
    private readonly log: ProviderLogger,
  ) {
    this.informer = k8s.makeInformer<V1Pod>(
      kc,
      `/api/v1/namespaces/${namespace}/pods`,
      () => core.listNamespacedPod({ namespace, labelSelector }),
      labelSelector,
    );
    this.informer.on('error', (err) => this.failed(err));
  }

  /** The list or watch failed: no evidence until it runs again, retried with backoff. */
  private failed(err: unknown): void {
    this.connected = false;
    this.errors++;
    if (this.stopped || this.restartTimer) return;
    this.failures++;
    // Forbidden (an RBAC without "watch" on pods) or an unreachable API server: every health
    // check asks the API server meanwhile, as it did before there was a watch.
    const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** Math.min(this.failures - 1, 5));
    if (this.failures === 1 || this.failures % 20 === 0) {
      this.log.warn(
        { namespace: this.namespace, err: errorMessage(err), retry_ms: delay, failures: this.failures },
        'watch of builder pods failed; health checks read each pod meanwhile',
      );
    }
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      void this.start();
    }, delay);
    this.restartTimer.unref();
  }

  /** Lists and starts watching; resolves once the first list is in (failures retry in the background). */
  async start(): Promise<void> {
    if (this.stopped) return;
    const errorsBefore = this.errors;
    try {
      await this.informer.start();
    } catch (err) {
      this.failed(err);
      return;
    }
    // A failed list or watch was reported to the error handler, which schedules the retry.
    if (this.stopped || this.errors !== errorsBefore) return;
    this.connected = true;
    if (this.failures > 0) this.log.info({ namespace: this.namespace }, 'watch of builder pods resumed');
    this.failures = 0;
  }

  /** What the watch knows of pod `name` whose uid is `uid` (the pod the provider routes to). */
  lookup(name: string, uid: string | undefined): PodSighting {
    return sighting(this.informer.get(name, this.namespace), uid, this.connected);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.connected = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.informer.stop();
  }
}
