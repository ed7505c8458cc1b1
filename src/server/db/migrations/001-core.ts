import type { Migration } from '../types.js';

// Each OIDC exchange writes a jti, a token and an audit event: indexes are kept few (and
// partial where most rows would not use them) so a commit writes few pages.
// Portable types: TEXT ids and ISO-8601 UTC timestamps (they sort as strings), INTEGER 0/1.
export const coreSchema: Migration = {
  id: '001-core',
  sql: `
CREATE TABLE projects (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  max_concurrent_builds INTEGER,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,
  build_id TEXT,
  hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  expires_at TEXT,
  last_used_at TEXT,
  revoked_at TEXT
);
CREATE INDEX tokens_project ON tokens(project_id);
CREATE INDEX tokens_build ON tokens(build_id) WHERE build_id IS NOT NULL;
CREATE TABLE trust_policies (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  provider TEXT NOT NULL,
  repository TEXT NOT NULL,
  repository_lc TEXT NOT NULL,
  repository_id TEXT,
  repository_owner_id TEXT,
  refs TEXT NOT NULL,
  environment TEXT,
  workflow TEXT,
  allow_pull_request_target INTEGER NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX trust_policies_repo ON trust_policies(repository_lc);
CREATE INDEX trust_policies_project ON trust_policies(project_id);
CREATE TABLE oidc_jtis (
  jti TEXT PRIMARY KEY,
  expires_at TEXT NOT NULL,
  seen_at TEXT NOT NULL
);
CREATE TABLE audit_events (
  id TEXT PRIMARY KEY,
  at TEXT NOT NULL,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL,
  project_id TEXT,
  subject TEXT,
  reason TEXT NOT NULL,
  details TEXT NOT NULL
);
CREATE INDEX audit_events_project ON audit_events(project_id, id);
`,
};
