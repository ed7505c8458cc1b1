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
];
