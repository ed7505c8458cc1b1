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
  {
    // Autoscaling (issue 11): a project may have clones next to its primary, per pool. The
    // unique (project, platform, role) goes; one primary per (project, platform, pool) stays.
    // SQLite cannot drop a constraint: the table is rebuilt, and build_builders with it so its
    // foreign key never points at a dropped table (dropping a parent would null its references).
    id: 'builds-003-pools-clones',
    sql: {
      sqlite: `
CREATE TABLE builders_new (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  platform TEXT NOT NULL,
  role TEXT NOT NULL,
  provider TEXT NOT NULL,
  pool TEXT NOT NULL,
  snapshot_id TEXT,
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
  updated_at TEXT NOT NULL
);
INSERT INTO builders_new (id, project_id, platform, role, provider, pool, snapshot_id, state, endpoint, pid,
  started_at, stopped_at, last_used_at, restarts, launch_failures, last_error, created_at, updated_at)
  SELECT id, project_id, platform, role, provider, provider, NULL, state, endpoint, pid, started_at, stopped_at,
    last_used_at, restarts, launch_failures, last_error, created_at, updated_at FROM builders;
CREATE TABLE build_builders_new (
  build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
  platform TEXT NOT NULL,
  builder_id TEXT REFERENCES builders_new(id) ON DELETE SET NULL,
  waiting_since TEXT,
  last_poll_at TEXT,
  acquired_at TEXT,
  cert_serial TEXT,
  cert_expires_at TEXT,
  PRIMARY KEY (build_id, platform)
);
INSERT INTO build_builders_new SELECT build_id, platform, builder_id, waiting_since, last_poll_at, acquired_at,
  cert_serial, cert_expires_at FROM build_builders;
DROP TABLE build_builders;
DROP TABLE builders;
ALTER TABLE builders_new RENAME TO builders;
ALTER TABLE build_builders_new RENAME TO build_builders;
CREATE INDEX build_builders_builder ON build_builders(builder_id);
CREATE UNIQUE INDEX builders_primary ON builders(project_id, platform, pool) WHERE role = 'primary';
CREATE INDEX builders_group ON builders(project_id, platform, pool);
`,
      postgres: `
ALTER TABLE builders DROP CONSTRAINT IF EXISTS builders_project_id_platform_role_key;
ALTER TABLE builders ADD COLUMN pool TEXT;
UPDATE builders SET pool = provider;
ALTER TABLE builders ALTER COLUMN pool SET NOT NULL;
ALTER TABLE builders ADD COLUMN snapshot_id TEXT;
CREATE UNIQUE INDEX builders_primary ON builders(project_id, platform, pool) WHERE role = 'primary';
CREATE INDEX builders_group ON builders(project_id, platform, pool);
`,
    },
  },
  {
    // The replica that launched or last adopted the builder (its gateway routes it). With several
    // replicas only the leader reaps builders, and it leaves alone one another live replica is
    // starting right now.
    id: 'builds-004-owner',
    sql: 'ALTER TABLE builders ADD COLUMN owner TEXT;',
  },
  {
    // Leader-only provisioning (see service.ts): the leader writes where each waiting platform
    // stands (placement, JSON) and what a builder is reached by (server name, CA certificate), so
    // a replica that is not the leader answers a build's polls from the database alone.
    id: 'builds-005-placements',
    sql: `
ALTER TABLE build_builders ADD COLUMN placement TEXT;
ALTER TABLE builders ADD COLUMN server_name TEXT;
ALTER TABLE builders ADD COLUMN ca_pem TEXT;
`,
  },
];
