import type { Migration } from '../db/index.js';

// One build_insights row per build (its origin, creator, trust, phases, Dockerfile and step
// counts, kept with the build), and its steps per platform in build_steps. Both go with their
// build (ON DELETE CASCADE), so the builds' retention purge covers them.
export const insightsMigrations: Migration[] = [
  {
    id: 'insights-001-init',
    sql: `
CREATE TABLE build_insights (
  build_id TEXT PRIMARY KEY REFERENCES builds(id) ON DELETE CASCADE,
  project_id TEXT NOT NULL,
  source TEXT NOT NULL,
  repository TEXT,
  repository_id TEXT,
  ref TEXT,
  sha TEXT,
  workflow TEXT,
  run_id TEXT,
  run_attempt TEXT,
  job TEXT,
  actor TEXT,
  run_url TEXT,
  token_id TEXT,
  token_kind TEXT,
  token_name TEXT,
  policy_id TEXT,
  claims TEXT,
  phases TEXT,
  dockerfile_path TEXT,
  dockerfile_sha256 TEXT,
  dockerfile TEXT,
  warnings TEXT NOT NULL DEFAULT '[]',
  steps_total INTEGER NOT NULL DEFAULT 0,
  steps_cached INTEGER NOT NULL DEFAULT 0,
  cache_break TEXT
);
CREATE INDEX build_insights_ref ON build_insights(project_id, repository, ref, build_id);
CREATE TABLE build_steps (
  build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
  platform TEXT NOT NULL,
  seq INTEGER NOT NULL,
  digest TEXT NOT NULL,
  name TEXT NOT NULL,
  stage TEXT,
  instruction TEXT,
  started_at TEXT,
  completed_at TEXT,
  cached INTEGER NOT NULL,
  error TEXT,
  log_tail TEXT NOT NULL,
  PRIMARY KEY (build_id, platform, seq)
);
CREATE TABLE ui_sessions (
  id_hash TEXT PRIMARY KEY,
  token_id TEXT NOT NULL,
  csrf TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
`,
  },
  {
    // Step inputs (the critical path), time saved per build from each cached step's last
    // uncached duration (step_durations), when a build's steps were pruned by retention, and
    // the builders' cache snapshots (buildctl du totals by record type, filesystem, GC limit).
    id: 'insights-002-saved-cache',
    sql: `
ALTER TABLE build_steps ADD COLUMN inputs TEXT;
ALTER TABLE build_insights ADD COLUMN saved_ms INTEGER;
ALTER TABLE build_insights ADD COLUMN steps_pruned_at TEXT;
CREATE TABLE step_durations (
  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  platform TEXT NOT NULL,
  step_key TEXT NOT NULL,
  duration_ms INTEGER NOT NULL,
  build_id TEXT NOT NULL,
  PRIMARY KEY (project_id, platform, step_key)
);
CREATE TABLE builder_cache_snapshots (
  builder_id TEXT NOT NULL,
  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  platform TEXT NOT NULL,
  at TEXT NOT NULL,
  reason TEXT NOT NULL,
  records INTEGER NOT NULL,
  layers_bytes BIGINT NOT NULL,
  cache_mounts_bytes BIGINT NOT NULL,
  source_bytes BIGINT NOT NULL,
  other_bytes BIGINT NOT NULL,
  reclaimable_bytes BIGINT NOT NULL,
  fs_used_bytes BIGINT,
  fs_total_bytes BIGINT,
  gc_limit_bytes BIGINT,
  PRIMARY KEY (builder_id, at)
);
CREATE INDEX builder_cache_snapshots_project ON builder_cache_snapshots(project_id, at);
`,
  },
  {
    // Steps arrive in batches while a build runs and in full at its end: 'live' while only
    // batches came, 'final' once the full set did (a batch that arrives later is dropped).
    id: 'insights-003-steps-state',
    sql: `ALTER TABLE build_insights ADD COLUMN steps_state TEXT;`,
  },
];
