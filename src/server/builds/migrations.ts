import type { Migration } from '../db/index.js';

// Builders are one row per (project, platform, role); the primary keeps the cache.
// A build_builders row is one platform of one build: waiting (builder_id NULL) or holding
// a slot on a builder while its build is queued or running.
export const buildsMigrations: Migration[] = [
  {
    id: 'builds-001-init',
    sql: `
CREATE TABLE builders (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  platform TEXT NOT NULL,
  role TEXT NOT NULL,
  provider TEXT NOT NULL,
  state TEXT NOT NULL,
  endpoint TEXT,
  pid INTEGER,
  started_at TEXT,
  stopped_at TEXT,
  last_used_at TEXT,
  restarts INTEGER NOT NULL DEFAULT 0,
  launch_failures INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (project_id, platform, role)
);
CREATE TABLE builds (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  status TEXT NOT NULL,
  platforms TEXT NOT NULL,
  options TEXT NOT NULL,
  created_by_token TEXT,
  queued_at TEXT NOT NULL,
  acquired_at TEXT,
  finished_at TEXT,
  last_heartbeat_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  error TEXT
);
CREATE INDEX builds_project ON builds(project_id, id);
CREATE INDEX builds_status ON builds(status);
CREATE TABLE build_builders (
  build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
  platform TEXT NOT NULL,
  builder_id TEXT REFERENCES builders(id) ON DELETE SET NULL,
  waiting_since TEXT,
  last_poll_at TEXT,
  acquired_at TEXT,
  cert_serial TEXT,
  cert_expires_at TEXT,
  PRIMARY KEY (build_id, platform)
);
CREATE INDEX build_builders_builder ON build_builders(builder_id);
`,
  },
  {
    // The per-project active-build count on every create, and the retention purge.
    id: 'builds-bounds-001-indexes',
    sql: `
CREATE INDEX builds_project_status ON builds(project_id, status);
CREATE INDEX builds_finished ON builds(finished_at) WHERE finished_at IS NOT NULL;
`,
  },
  {
    // Every client certificate ever issued for a build: the gateway in front of the builders
    // lets a connection in only while its serial is here, unrevoked, and its build is active.
    // cert_pem is public; a renewal certifies the same key again from it.
    id: 'builds-002-certs',
    sql: `
CREATE TABLE build_certs (
  serial TEXT PRIMARY KEY,
  build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
  platform TEXT NOT NULL,
  builder_id TEXT NOT NULL,
  cert_pem TEXT NOT NULL,
  issued_at TEXT NOT NULL,
  not_after TEXT NOT NULL,
  revoked_at TEXT,
  revoke_reason TEXT
);
CREATE INDEX build_certs_build ON build_certs(build_id, platform);
`,
  },
];
