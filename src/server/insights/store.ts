// Data access for build insights: context at create, steps and Dockerfile while running,
// phases at finish; portable SQL for SQLite and PostgreSQL.
import {
  BUILD_STEPS_MAX,
  STEP_LOG_TAIL_BYTES,
  type BuildContextInput,
  type BuildInsights,
  type BuildPhases,
  type BuildStatus,
  type BuildStep,
  type PostStepsRequest,
  type StepWarning,
} from '../../lib/api-types.js';
import type { Db } from '../db/index.js';
import type { AuthContext } from '../auth/tokens.js';
import { badRequest } from '../http/errors.js';
import { type ChartBuild, criticalPath, stepKey } from './analysis.js';

const MAX_TEXT = 512;
export const DOCKERFILE_MAX_BYTES = 256 * 1024;

interface InsightsRow {
  build_id: string;
  project_id: string;
  source: string;
  repository: string | null;
  repository_id: string | null;
  ref: string | null;
  sha: string | null;
  workflow: string | null;
  run_id: string | null;
  run_attempt: string | null;
  job: string | null;
  actor: string | null;
  run_url: string | null;
  token_id: string | null;
  token_kind: string | null;
  token_name: string | null;
  policy_id: string | null;
  claims: string | null;
  phases: string | null;
  dockerfile_path: string | null;
  dockerfile_sha256: string | null;
  dockerfile: string | null;
  warnings: string;
  steps_total: number;
  steps_cached: number;
  saved_ms: number | null;
  steps_pruned_at: string | null;
  steps_state: string | null;
}

interface StepRow {
  platform: string;
  seq: number;
  digest: string;
  name: string;
  stage: string | null;
  instruction: string | null;
  started_at: string | null;
  completed_at: string | null;
  cached: number;
  error: string | null;
  log_tail: string;
  inputs: string | null;
}

/** A row of the builds list: the build and what the dashboard shows about it. */
export interface BuildListRow {
  id: string;
  project_id: string;
  project_name: string;
  status: BuildStatus;
  platforms: string;
  queued_at: string;
  acquired_at: string | null;
  finished_at: string | null;
  error: string | null;
  source: string | null;
  repository: string | null;
  ref: string | null;
  sha: string | null;
  run_url: string | null;
  phases: string | null;
  steps_total: number | null;
  steps_cached: number | null;
  saved_ms: number | null;
}

export interface ListFilter {
  project?: string;
  status?: string;
  repository?: string;
  /** A branch name ("main") or a full ref ("refs/heads/main"). */
  branch?: string;
  before?: string;
  limit: number;
}

const clip = (v: unknown): string | null => (typeof v === 'string' && v ? v.slice(0, MAX_TEXT) : null);

/**
 * Where the cache broke: the earliest-started Dockerfile step that was not cached. A FROM step
 * is never reported cached (BuildKit resolves the image each time); it counts only when the
 * previous build did not have the same one (its name carries the image digest).
 */
export function firstUncached(steps: BuildStep[], previousNames?: Set<string>): BuildStep | undefined {
  return steps
    .filter(
      (s) =>
        s.instruction !== null &&
        !s.cached &&
        s.started_at !== null &&
        (!/^FROM\s/i.test(s.instruction) || (previousNames !== undefined && !previousNames.has(s.name))),
    )
    .sort((a, b) => (a.started_at! < b.started_at! ? -1 : a.started_at! > b.started_at! ? 1 : 0))[0];
}

/** "main" → "refs/heads/main"; a full ref stays. */
export function branchRef(branch: string): string {
  return branch.startsWith('refs/') ? branch : `refs/heads/${branch}`;
}

export class InsightsStore {
  constructor(readonly db: Db) {}

  /** Records where a build came from and who created it (for OIDC: the policy and claims). */
  async recordCreate(
    buildId: string,
    projectId: string,
    who: AuthContext,
    context: BuildContextInput | undefined,
  ): Promise<void> {
    const token = await this.db.get<{ id: string; kind: string; name: string }>(
      'SELECT id, kind, name FROM tokens WHERE id = ?',
      [who.token_id],
    );
    let policyId: string | null = null;
    let claims: string | null = null;
    if (who.kind === 'oidc') {
      // The exchange audited the grant with the token it minted, the policy and the claims.
      const ev = await this.db.get<{ details: string }>(
        `SELECT details FROM audit_events WHERE project_id = ? AND action = 'auth.github_oidc'
           AND outcome = 'granted' AND details LIKE ? ORDER BY id DESC LIMIT 1`,
        [projectId, `%"token_id":"${who.token_id}"%`],
      );
      if (ev) {
        const d = JSON.parse(ev.details) as Record<string, unknown>;
        policyId = typeof d.policy_id === 'string' ? d.policy_id : null;
        const { policy_id: _p, token_id: _t, pinned: _pin, ...rest } = d;
        claims = JSON.stringify(rest);
      }
    }
    const g = context?.github ?? {};
    await this.db.run(
      `INSERT INTO build_insights (build_id, project_id, source, repository, repository_id, ref, sha, workflow,
         run_id, run_attempt, job, actor, run_url, token_id, token_kind, token_name, policy_id, claims)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        buildId,
        projectId,
        context?.source === 'action' ? 'action' : context?.source === 'cli' ? 'cli' : 'api',
        clip(g.repository),
        clip(g.repository_id),
        clip(g.ref),
        clip(g.sha),
        clip(g.workflow),
        clip(g.run_id),
        clip(g.run_attempt),
        clip(g.job),
        clip(g.actor),
        // only links a browser can follow safely
        typeof g.run_url === 'string' && /^https:\/\/[^\s"'<>]+$/.test(g.run_url) ? clip(g.run_url) : null,
        token?.id ?? who.token_id,
        token?.kind ?? who.kind,
        token?.name ?? null,
        policyId,
        claims,
      ],
    );
  }

  /**
   * Stores steps, warnings and the Dockerfile. The full set (at the build's end) replaces the
   * steps of the platforms it names; a partial batch (while the build runs) adds or updates steps
   * by platform and vertex digest, and is dropped once the full set is there, whatever order they
   * arrive in. Either way one vertex digest is one row per platform. Returns the steps taken.
   */
  async saveSteps(buildId: string, projectId: string, req: PostStepsRequest): Promise<number> {
    if (req.steps.length > BUILD_STEPS_MAX) {
      throw badRequest('too_many_steps', `at most ${BUILD_STEPS_MAX} steps per build are accepted`);
    }
    const df = req.dockerfile;
    if (df?.contents && Buffer.byteLength(df.contents) > DOCKERFILE_MAX_BYTES) {
      throw badRequest(
        'dockerfile_too_large',
        `dockerfile.contents is over ${DOCKERFILE_MAX_BYTES} bytes; send path and sha256 only`,
      );
    }
    const partial = req.partial === true;
    return this.db.transaction(async (tx) => {
      await this.ensureRow(buildId, projectId, tx);
      // Writing the row first takes its lock (PostgreSQL), so a batch and the full set never
      // interleave; a batch after the full set finds it 'final' and changes nothing.
      const took = await tx.run(
        partial
          ? `UPDATE build_insights SET steps_state = 'live' WHERE build_id = ? AND (steps_state IS NULL OR steps_state = 'live')`
          : `UPDATE build_insights SET steps_state = 'final' WHERE build_id = ?`,
        [buildId],
      );
      if (took.changes === 0) return 0;
      const key = (platform: string, digest: string): string =>
        `${platform.slice(0, 64)}\u0000${digest.slice(0, 128)}`;
      const rows = new Map<string, number>();
      const next = new Map<string, number>();
      // rows of the build, every platform, against BUILD_STEPS_MAX
      let count = 0;
      if (partial) {
        for (const r of await tx.all<{ platform: string; digest: string; seq: number | string }>(
          'SELECT platform, digest, seq FROM build_steps WHERE build_id = ?',
          [buildId],
        )) {
          rows.set(key(r.platform, r.digest), Number(r.seq));
          next.set(r.platform, Math.max(next.get(r.platform) ?? 0, Number(r.seq) + 1));
        }
        count = rows.size;
      } else {
        for (const p of new Set(req.steps.map((s) => s.platform.slice(0, 64)))) {
          await tx.run('DELETE FROM build_steps WHERE build_id = ? AND platform = ?', [buildId, p]);
        }
        const left = await tx.get<{ n: number | string }>(
          'SELECT COUNT(*) AS n FROM build_steps WHERE build_id = ?',
          [buildId],
        );
        count = Number(left?.n ?? 0);
      }
      let taken = 0;
      for (const s of req.steps) {
        const platform = s.platform.slice(0, 64);
        const k = key(platform, s.digest);
        const values = [
          s.name.slice(0, 2048),
          s.stage?.slice(0, 256) ?? null,
          s.instruction?.slice(0, 2048) ?? null,
          s.started_at,
          s.completed_at,
          s.cached ? 1 : 0,
          s.error?.slice(0, 4096) ?? null,
          Buffer.from(s.log_tail, 'utf8').subarray(-STEP_LOG_TAIL_BYTES).toString('utf8'),
          s.inputs?.length ? JSON.stringify(s.inputs.slice(0, 64)) : null,
        ];
        const seq = rows.get(k);
        if (seq !== undefined) {
          await tx.run(
            `UPDATE build_steps SET name = ?, stage = ?, instruction = ?, started_at = ?, completed_at = ?,
               cached = ?, error = ?, log_tail = ?, inputs = ? WHERE build_id = ? AND platform = ? AND seq = ?`,
            [...values, buildId, platform, seq],
          );
        } else {
          if (count >= BUILD_STEPS_MAX) continue;
          count++;
          const n = next.get(platform) ?? 0;
          next.set(platform, n + 1);
          rows.set(k, n);
          await tx.run(
            `INSERT INTO build_steps (build_id, platform, seq, digest, name, stage, instruction, started_at,
               completed_at, cached, error, log_tail, inputs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            [buildId, platform, n, s.digest.slice(0, 128), ...values],
          );
        }
        taken++;
      }
      const saved = await this.timeSaved(buildId, projectId, req.steps, tx);
      const counts = await tx.get<{ total: number | string; cached: number | string | null }>(
        `SELECT COUNT(*) AS total, SUM(cached) AS cached FROM build_steps WHERE build_id = ? AND instruction IS NOT NULL`,
        [buildId],
      );
      // a batch carries the warnings seen so far, or none when they did not change
      const warnings = partial && !req.warnings ? null : JSON.stringify((req.warnings ?? []).slice(0, 500));
      await tx.run(
        `UPDATE build_insights SET steps_total = ?, steps_cached = ?, saved_ms = ?, warnings = COALESCE(?, warnings),
           dockerfile_path = COALESCE(?, dockerfile_path), dockerfile_sha256 = COALESCE(?, dockerfile_sha256),
           dockerfile = COALESCE(?, dockerfile) WHERE build_id = ?`,
        [
          Number(counts?.total ?? 0),
          Number(counts?.cached ?? 0),
          saved,
          warnings,
          df?.path?.slice(0, 1024) ?? null,
          df?.sha256?.slice(0, 64) ?? null,
          df?.contents ?? null,
          buildId,
        ],
      );
      return taken;
    });
  }

  /**
   * Time the cache saved this build: for each cached step, the duration of the last run of the
   * same step (stage and instruction) in this project that was not cached. Finished uncached
   * steps become the new "last run" of their step. Returns the build's total over all its
   * platforms sent so far.
   */
  private async timeSaved(buildId: string, projectId: string, steps: BuildStep[], tx: Db): Promise<number> {
    for (const s of steps) {
      const key = stepKey(s);
      if (!key || s.cached || s.error || !s.started_at || !s.completed_at) continue;
      const d = Date.parse(s.completed_at) - Date.parse(s.started_at);
      if (!(d >= 0)) continue;
      await tx.run(
        `INSERT INTO step_durations (project_id, platform, step_key, duration_ms, build_id) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (project_id, platform, step_key) DO UPDATE SET duration_ms = excluded.duration_ms, build_id = excluded.build_id`,
        [projectId, s.platform.slice(0, 64), key, Math.round(d), buildId],
      );
    }
    const rows = await tx.all<{ platform: string; stage: string | null; instruction: string | null }>(
      'SELECT platform, stage, instruction FROM build_steps WHERE build_id = ? AND cached = 1 AND instruction IS NOT NULL',
      [buildId],
    );
    let saved = 0;
    for (const r of rows) {
      const last = await tx.get<{ duration_ms: number | string }>(
        'SELECT duration_ms FROM step_durations WHERE project_id = ? AND platform = ? AND step_key = ? AND build_id <> ?',
        [projectId, r.platform, stepKey(r)!, buildId],
      );
      saved += Number(last?.duration_ms ?? 0);
    }
    return saved;
  }

  async savePhases(buildId: string, projectId: string, phases: BuildPhases): Promise<void> {
    await this.ensureRow(buildId, projectId);
    await this.db.run('UPDATE build_insights SET phases = ? WHERE build_id = ?', [
      JSON.stringify(phases),
      buildId,
    ]);
  }

  /** Builds created before insights existed (or by an old client) get a bare row. */
  private async ensureRow(buildId: string, projectId: string, db: Db = this.db): Promise<void> {
    await db.run(
      `INSERT INTO build_insights (build_id, project_id, source) VALUES (?, ?, 'api') ON CONFLICT (build_id) DO NOTHING`,
      [buildId, projectId],
    );
  }

  async steps(buildId: string): Promise<BuildStep[]> {
    const rows = await this.db.all<StepRow>(
      'SELECT * FROM build_steps WHERE build_id = ? ORDER BY platform, seq',
      [buildId],
    );
    return rows.map((r) => ({
      platform: r.platform,
      digest: r.digest,
      name: r.name,
      stage: r.stage,
      instruction: r.instruction,
      started_at: r.started_at,
      completed_at: r.completed_at,
      cached: Number(r.cached) === 1,
      error: r.error,
      log_tail: r.log_tail,
      ...(r.inputs ? { inputs: JSON.parse(r.inputs) as string[] } : {}),
    }));
  }

  /** Everything the JSON API and the build page show about one build. */
  async get(buildId: string): Promise<BuildInsights> {
    const row = await this.db.get<InsightsRow>('SELECT * FROM build_insights WHERE build_id = ?', [buildId]);
    const steps = await this.steps(buildId);
    let previous: string | null = null;
    if (row && steps.length) {
      const prev = await this.db.get<{ build_id: string }>(
        row.repository
          ? `SELECT build_id FROM build_insights WHERE project_id = ? AND repository = ? AND ref IS NOT DISTINCT FROM ? AND build_id < ? AND steps_total > 0 ORDER BY build_id DESC LIMIT 1`
          : `SELECT build_id FROM build_insights WHERE project_id = ? AND repository IS NULL AND dockerfile_path IS NOT DISTINCT FROM ? AND build_id < ? AND steps_total > 0 ORDER BY build_id DESC LIMIT 1`,
        row.repository
          ? [row.project_id, row.repository, row.ref, buildId]
          : [row.project_id, row.dockerfile_path, buildId],
      );
      previous = prev?.build_id ?? null;
    }
    const previousNames = previous
      ? new Set(
          (
            await this.db.all<{ name: string }>('SELECT name FROM build_steps WHERE build_id = ?', [previous])
          ).map((r) => r.name),
        )
      : undefined;
    const brk = firstUncached(steps, previousNames);
    const g = row
      ? Object.fromEntries(
          (
            [
              'repository',
              'repository_id',
              'ref',
              'sha',
              'workflow',
              'run_id',
              'run_attempt',
              'job',
              'actor',
              'run_url',
            ] as const
          )
            .filter((k) => row[k] !== null)
            .map((k) => [k, row[k]]),
        )
      : {};
    return {
      context: row
        ? {
            source: row.source as 'cli' | 'action',
            ...(Object.keys(g).length ? { github: g } : {}),
          }
        : null,
      created_by:
        row?.token_id && row.token_kind
          ? { id: row.token_id, kind: row.token_kind, name: row.token_name ?? '' }
          : null,
      trust:
        row?.claims || row?.policy_id
          ? {
              policy_id: row.policy_id,
              claims: row.claims ? (JSON.parse(row.claims) as Record<string, unknown>) : {},
            }
          : null,
      phases: row?.phases ? (JSON.parse(row.phases) as BuildPhases) : null,
      dockerfile:
        row?.dockerfile_path && row.dockerfile_sha256
          ? { path: row.dockerfile_path, sha256: row.dockerfile_sha256, contents: row.dockerfile }
          : null,
      steps,
      warnings: row ? (JSON.parse(row.warnings) as (StepWarning & { platform: string })[]) : [],
      steps_total: Number(row?.steps_total ?? 0),
      steps_cached: Number(row?.steps_cached ?? 0),
      cache_break: brk ? { previous_build_id: previous, platform: brk.platform, step: brk.name } : null,
      time_saved_ms: Number(row?.saved_ms ?? 0),
      critical_path: Object.fromEntries(
        [...new Set(steps.map((s) => s.platform))].map((p) => [
          p,
          [...criticalPath(steps.filter((s) => s.platform === p))],
        ]),
      ),
      steps_pruned_at: row?.steps_pruned_at ?? null,
      steps_live: row?.steps_state === 'live',
    };
  }

  /** A page of the builds list, newest first, joined with projects and insights. */
  list(f: ListFilter, projectScope?: string): Promise<BuildListRow[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (projectScope) {
      where.push('b.project_id = ?');
      params.push(projectScope);
    }
    if (f.project) {
      where.push('(p.name = ? OR p.id = ?)');
      params.push(f.project, f.project);
    }
    if (f.status) {
      where.push('b.status = ?');
      params.push(f.status);
    }
    if (f.repository) {
      where.push('i.repository = ?');
      params.push(f.repository);
    }
    if (f.branch) {
      where.push('i.ref = ?');
      params.push(branchRef(f.branch));
    }
    if (f.before) {
      where.push('b.id < ?');
      params.push(f.before);
    }
    params.push(f.limit);
    return this.db.all<BuildListRow>(
      `SELECT b.id, b.project_id, p.name AS project_name, b.status, b.platforms, b.queued_at, b.acquired_at,
         b.finished_at, b.error, i.source, i.repository, i.ref, i.sha, i.run_url, i.phases, i.steps_total,
         i.steps_cached, i.saved_ms
       FROM builds b JOIN projects p ON p.id = b.project_id LEFT JOIN build_insights i ON i.build_id = b.id
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY b.id DESC LIMIT ?`,
      params,
    );
  }

  /**
   * Finished builds queued in [from, to), for the charts: their bucket (of `bucketMs` from
   * `from`), duration and queue wait computed by the database from the ISO timestamps. Summary
   * columns only: they outlive the steps.
   */
  chartBuilds(
    projectId: string | null,
    fromMs: number,
    toMs: number,
    bucketMs: number,
    limit = 100_000,
  ): Promise<ChartBuild[]> {
    const ms = (col: string): string =>
      this.db.dialect === 'postgres'
        ? `(EXTRACT(EPOCH FROM ${col}::timestamptz) * 1000)`
        : `((julianday(${col}) - 2440587.5) * 86400000.0)`;
    const from = new Date(fromMs).toISOString();
    const to = new Date(toMs).toISOString();
    const int = this.db.dialect === 'postgres' ? 'BIGINT' : 'INTEGER';
    return this.db.all<ChartBuild>(
      `SELECT ${this.db.dialect === 'postgres' ? `FLOOR((${ms('b.queued_at')} - ?) / ?)::bigint` : `CAST((${ms('b.queued_at')} - ?) / ? AS INTEGER)`} AS bucket,
         CAST(ROUND(${ms('b.finished_at')} - ${ms('b.queued_at')}) AS ${int}) AS duration_ms,
         CASE WHEN b.acquired_at IS NULL THEN NULL ELSE CAST(ROUND(${ms('b.acquired_at')} - ${ms('b.queued_at')}) AS ${int}) END AS wait_ms,
         i.steps_total, i.steps_cached, i.saved_ms
       FROM builds b LEFT JOIN build_insights i ON i.build_id = b.id
       WHERE b.finished_at IS NOT NULL AND b.queued_at >= ? AND b.queued_at < ?${projectId ? ' AND b.project_id = ?' : ''}
       LIMIT ?`,
      projectId ? [fromMs, bucketMs, from, to, projectId, limit] : [fromMs, bucketMs, from, to, limit],
    );
  }

  /**
   * Retention of steps and logs, separate from the summary rows the list and charts read: a
   * finished build's steps go once it is older than `days`, or is not among its project's
   * newest `keep` builds with steps. Its build_insights row stays, marked steps_pruned_at.
   */
  async pruneSteps(opts: { days: number | null; keep: number | null; now: Date }): Promise<number> {
    const victims = new Set<string>();
    if (opts.days !== null) {
      const before = new Date(opts.now.getTime() - opts.days * 86400_000).toISOString();
      const old = await this.db.all<{ build_id: string }>(
        `SELECT i.build_id FROM build_insights i JOIN builds b ON b.id = i.build_id
         WHERE i.steps_pruned_at IS NULL AND b.finished_at IS NOT NULL AND b.finished_at < ?
           AND EXISTS (SELECT 1 FROM build_steps s WHERE s.build_id = i.build_id) LIMIT 5000`,
        [before],
      );
      for (const r of old) victims.add(r.build_id);
    }
    if (opts.keep !== null) {
      const projects = await this.db.all<{ project_id: string }>(
        'SELECT DISTINCT project_id FROM build_insights WHERE steps_pruned_at IS NULL AND steps_total > 0',
      );
      for (const { project_id } of projects) {
        const extra = await this.db.all<{ build_id: string }>(
          `SELECT i.build_id FROM build_insights i JOIN builds b ON b.id = i.build_id
           WHERE i.project_id = ? AND i.steps_pruned_at IS NULL AND b.finished_at IS NOT NULL
             AND EXISTS (SELECT 1 FROM build_steps s WHERE s.build_id = i.build_id)
           ORDER BY i.build_id DESC LIMIT 5000 OFFSET ?`,
          [project_id, opts.keep],
        );
        for (const r of extra) victims.add(r.build_id);
      }
    }
    const at = opts.now.toISOString();
    for (const id of victims) {
      await this.db.transaction(async (tx) => {
        await tx.run('DELETE FROM build_steps WHERE build_id = ?', [id]);
        await tx.run(
          `UPDATE build_insights SET steps_pruned_at = ?, dockerfile = NULL, warnings = '[]' WHERE build_id = ?`,
          [at, id],
        );
      });
    }
    return victims.size;
  }
}
