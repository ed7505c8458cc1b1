import type { Migration } from '../types.js';

// Aggregated audit rows shared by every replica: an aggregated row (refusals of tokens that did
// not verify) has a unique `agg_key` (client, reason and minute window) and its count and last
// time in columns, so each replica adds its refusals to the one row with an atomic
// INSERT ... ON CONFLICT (agg_key) DO UPDATE. Every other audit row leaves them NULL (NULLs never
// conflict). The OIDC per-client limit reuses `rate_buckets` (keys "oidc:<client>").
export const sharedAggregates: Migration = {
  id: '004-shared-aggregates',
  sql: {
    sqlite: `
ALTER TABLE audit_events ADD COLUMN agg_key TEXT;
ALTER TABLE audit_events ADD COLUMN agg_count INTEGER;
ALTER TABLE audit_events ADD COLUMN agg_last_at TEXT;
CREATE UNIQUE INDEX audit_events_agg ON audit_events(agg_key);
`,
    postgres: `
ALTER TABLE audit_events ADD COLUMN agg_key TEXT;
ALTER TABLE audit_events ADD COLUMN agg_count BIGINT;
ALTER TABLE audit_events ADD COLUMN agg_last_at TEXT;
CREATE UNIQUE INDEX audit_events_agg ON audit_events(agg_key);
`,
  },
};
