// In-process notices that a build changed (created, got a builder, sent steps, finished), for
// the dashboard's server-sent events. One replica sees its own requests' changes; the page
// also refreshes on a slow timer, so changes made through another replica show up too.
import { EventEmitter } from 'node:events';

export class BuildEvents {
  private readonly emitter = new EventEmitter();
  constructor() {
    // every open dashboard tab listens
    this.emitter.setMaxListeners(0);
  }
  changed(buildId: string): void {
    this.emitter.emit('build', buildId);
  }
  subscribe(fn: (buildId: string) => void): () => void {
    this.emitter.on('build', fn);
    return () => this.emitter.off('build', fn);
  }
}
