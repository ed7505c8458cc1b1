// What the kubernetes provider knows of its builder pods between its own API calls: one list and
// watch of the pods with its labels (one long-lived request, kept current by the API server's
// events), so a health check needs no request of its own, and a pod that was deleted or stopped
// running is known as soon as the API server says so. The watch is evidence only about the pod
// the provider routes to (the same uid): a pod just replaced may not have reached the watch yet,
// and then the caller asks the API server as it did without a watch.
import * as k8s from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { errorMessage } from '../lib/errors.js';
import type { ProviderLogger } from './provider-options.js';

/** What the watch says about one pod. */
export type PodSighting =
  | { kind: 'present'; pod: V1Pod }
  /** The watch saw this very pod (same uid) deleted. */
  | { kind: 'deleted' }
  /** Not connected, never seen, or another pod than the one asked about: ask the API server. */
  | { kind: 'unknown' };

/** Pure: what a watch cache entry and tombstone tell about the pod with uid `uid`. */
export function sighting(
  cached: V1Pod | undefined,
  deletedUid: string | undefined,
  uid: string | undefined,
  connected: boolean,
): PodSighting {
  if (!connected || !uid) return { kind: 'unknown' };
  if (cached?.metadata?.uid === uid) return { kind: 'present', pod: cached };
  if (deletedUid === uid) return { kind: 'deleted' };
  return { kind: 'unknown' };
}

const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;
/** Tombstones kept; a builder's pod name is reused, so this bounds only churn of many builders. */
const MAX_TOMBSTONES = 10_000;

export class PodWatch {
  private readonly informer: k8s.Informer<V1Pod> & k8s.ObjectCache<V1Pod>;
  /** uid of the last pod of each name the watch saw deleted. */
  private readonly deleted = new Map<string, string>();
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
    const seen = (pod: V1Pod): void => {
      const name = pod.metadata?.name;
      if (name && this.deleted.get(name) === pod.metadata?.uid) this.deleted.delete(name);
    };
    this.informer.on('add', seen);
    this.informer.on('update', seen);
    this.informer.on('delete', (pod) => {
      const name = pod.metadata?.name;
      const uid = pod.metadata?.uid;
      if (!name || !uid) return;
      if (this.deleted.size >= MAX_TOMBSTONES) this.deleted.clear();
      this.deleted.set(name, uid);
    });
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
    return sighting(this.informer.get(name, this.namespace), this.deleted.get(name), uid, this.connected);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.connected = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.informer.stop();
  }
}
