import type { Migration } from '../types.js';

// Per-project autoscaling: off by default (one primary per platform, builds queue past its
// limit, as before); max_concurrent_builds stays the "builds per builder" setting.
// INTEGER 0/1 for the flag: both dialects accept it, and one ADD COLUMN per statement for SQLite.
export const projectAutoscaling: Migration = {
  id: '002-project-autoscaling',
  sql: `
ALTER TABLE projects ADD COLUMN autoscaling INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN max_builders_per_platform INTEGER NOT NULL DEFAULT 10;
`,
};
