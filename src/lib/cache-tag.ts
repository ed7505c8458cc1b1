import { createHash } from 'node:crypto';

// Shared by the build-push action (fallback-cache) and `hoist cache prune`: both must name a
// branch's registry cache tag the same way.

/** OCI distribution-spec tag grammar. */
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const MAX_TAG = 128;

/**
 * A branch name as a valid OCI tag: lowercased, every character outside [a-z0-9_.-] as `-`,
 * at most 128 characters. When that changed the name, a hash of the original is appended
 * so that `feature/a` and `feature-a` (or `Main` and `main`) never share a cache.
 */
export function branchCacheTag(branch: string): string {
  if (branch === '') throw new Error('branchCacheTag: empty branch name');
  if (TAG.test(branch) && branch === branch.toLowerCase()) return branch;
  const hash = createHash('sha256').update(branch).digest('hex').slice(0, 8);
  let base = branch.toLowerCase().replace(/[^a-z0-9_.-]/g, '-');
  base = base.replace(/^[.-]+/, '');
  base = base.slice(0, MAX_TAG - hash.length - 1).replace(/[.-]+$/, '');
  return base ? `${base}-${hash}` : hash;
}
