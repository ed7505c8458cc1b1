// Build-check warnings of a bake as warning annotations, as docker/bake-action makes them: the
// warnings buildx wrote to the bake metadata (`buildx.build.warnings`), matched against the
// Dockerfiles of the bake's builds. Pure; the matching itself is build-push's (annotations.ts).
import * as path from 'node:path';
import { localStateFor, type LocalState } from '../build-push/annotations.js';
import { isRemoteRef, type Definition } from './args.js';

/** The build refs of a bake's targets (`<target>.buildx.build.ref` of its metadata file). */
export function bakeRefs(metadata: Record<string, unknown> | undefined): string[] {
  const refs: string[] = [];
  for (const value of Object.values(metadata ?? {})) {
    const ref = (value as Record<string, unknown> | null)?.['buildx.build.ref'];
    if (typeof ref === 'string' && ref) refs.push(ref);
  }
  return refs;
}

/**
 * The local state buildx saves for each target's build, from the definition: the context, and
 * the Dockerfile, which bake reads relative to the context. An inline Dockerfile has none to
 * point at. Used on Hoist, whose temporary builder takes buildx's saved state with it.
 */
export function definitionLocalStates(def: Definition, cwd: string): LocalState[] {
  const out: LocalState[] = [];
  for (const t of Object.values(def.target)) {
    if (typeof t['dockerfile-inline'] === 'string') continue;
    const context = typeof t.context === 'string' && t.context ? t.context : '.';
    const dockerfile = typeof t.dockerfile === 'string' && t.dockerfile ? t.dockerfile : 'Dockerfile';
    const remote = isRemoteRef(context) || context.startsWith('ssh://');
    const file = remote || path.isAbsolute(dockerfile) ? dockerfile : path.join(context, dockerfile);
    out.push(localStateFor(context, file, cwd));
  }
  return out;
}
