import type { Migration } from '../types.js';

// Several replicas on one PostgreSQL database share what one process used to keep in memory:
// - cluster_members: each replica reports in every poll (seen_ms in the database's clock, so
//   replicas' clocks need not agree); the leader lease itself is an advisory lock, not a row;
// - rate_buckets: token buckets every replica draws from (build creations per project).
export const clusterSchema: Migration = {
  id: '003-cluster',
  sql: {
    sqlite: `
CREATE TABLE cluster_members (id TEXT PRIMARY KEY, started_at TEXT NOT NULL, seen_ms INTEGER NOT NULL);
CREATE TABLE rate_buckets (key TEXT PRIMARY KEY, tokens REAL NOT NULL, at_ms INTEGER NOT NULL);
`,
    postgres: `
CREATE TABLE cluster_members (id TEXT PRIMARY KEY, started_at TEXT NOT NULL, seen_ms BIGINT NOT NULL);
CREATE TABLE rate_buckets (key TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, at_ms BIGINT NOT NULL);
`,
  },
};
