// Data access for builds and builders; portable SQL for SQLite and PostgreSQL.
import type { BuildInfo, BuildStatus } from '../../lib/api-types.js';
import type { Db } from '../db/index.js';

export const ACTIVE_STATUSES: BuildStatus[] = ['queued', 'running'];
const ACTIVE_SQL = `('queued', 'running')`;

export interface BuildRow {
  id: string;
  project_id: string;
  status: BuildStatus;
  platforms: string;
  options: string;
  created_by_token: string | null;
  queued_at: string;
  acquired_at: string | null;
  finished_at: string | null;
  last_heartbeat_at: string;
  expires_at: string;
  cancel_requested: number;
  error: string | null;
}

export interface BuildBuilderRow {
  build_id: string;
  platform: string;
  builder_id: string | null;
  waiting_since: string | null;
  last_poll_at: string | null;
  acquired_at: string | null;
  cert_serial: string | null;
  cert_expires_at: string | null;
  /** The leader's last word on this platform (JSON of a Placement); null until it saw it. */
  placement?: string | null;
}

export interface BuildCertRow {
  serial: string;
  build_id: string;
  platform: string;
  builder_id: string;
  cert_pem: string;
  issued_at: string;
  not_after: string;
  revoked_at: string | null;
  revoke_reason: string | null;
}

/** `destroyed`: a clone that is gone; its row stays for the builds that used it. */
export type BuilderState = 'stopped' | 'starting' | 'running' | 'failed' | 'destroyed';

export interface BuilderRow {
  id: string;
  project_id: string;
  platform: string;
  role: string;
  provider: string;
  /** The provider pool it runs in (the provider's name for a server with one pool). */
  pool: string;
  /** For a clone: the snapshot its cache started from. */
  snapshot_id: string | null;
  state: BuilderState;
  endpoint: string | null;
  pid: number | null;
  started_at: string | null;
  stopped_at: string | null;
  last_used_at: string | null;
  restarts: number;
  launch_failures: number;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  /** The replica that launched or last adopted it; null before its first start. */
  owner?: string | null;
  /** TLS server name and CA of the running builder, recorded by the leader for other replicas. */
  server_name?: string | null;
  ca_pem?: string | null;
}

/** A platform of an active build that asked for a builder: the demand the leader provisions for. */
export interface DemandRow {
  build_id: string;
  platform: string;
  project_id: string;
  queued_at: string;
  builder_id: string | null;
  placement: string | null;
}

export class BuildStore {
  constructor(readonly db: Db) {}

  async insertBuild(b: BuildRow, platforms: string[], db: Db = this.db): Promise<void> {
    await db.run(
      `INSERT INTO builds (id, project_id, status, platforms, options, created_by_token, queued_at, acquired_at,
         finished_at, last_heartbeat_at, expires_at, cancel_requested, error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        b.id,
        b.project_id,
        b.status,
        b.platforms,
        b.options,
        b.created_by_token,
        b.queued_at,
        b.acquired_at,
        b.finished_at,
        b.last_heartbeat_at,
        b.expires_at,
        b.cancel_requested,
        b.error,
      ],
    );
    for (const p of platforms) {
      await db.run('INSERT INTO build_builders (build_id, platform) VALUES (?, ?)', [b.id, p]);
    }
  }

  getBuild(id: string, db: Db = this.db): Promise<BuildRow | undefined> {
    return db.get<BuildRow>('SELECT * FROM builds WHERE id = ?', [id]);
  }

  async listBuilds(
    filter: { project_id?: string; status?: BuildStatus; build_id?: string; limit: number; before?: string },
    db: Db = this.db,
  ): Promise<BuildRow[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.project_id) {
      where.push('project_id = ?');
      params.push(filter.project_id);
    }
    if (filter.status) {
      where.push('status = ?');
      params.push(filter.status);
    }
    if (filter.build_id) {
      where.push('id = ?');
      params.push(filter.build_id);
    }
    if (filter.before) {
      where.push('id < ?');
      params.push(filter.before);
    }
    params.push(filter.limit);
    return db.all<BuildRow>(
      `SELECT * FROM builds ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
      params,
    );
  }

  buildBuilders(buildIds: string[], db: Db = this.db): Promise<BuildBuilderRow[]> {
    if (buildIds.length === 0) return Promise.resolve([]);
    return db.all<BuildBuilderRow>(
      `SELECT * FROM build_builders WHERE build_id IN (${buildIds.map(() => '?').join(', ')}) ORDER BY build_id, platform`,
      buildIds,
    );
  }

  getBuildBuilder(buildId: string, platform: string, db: Db = this.db): Promise<BuildBuilderRow | undefined> {
    return db.get<BuildBuilderRow>('SELECT * FROM build_builders WHERE build_id = ? AND platform = ?', [
      buildId,
      platform,
    ]);
  }

  /** Builds of active status holding a slot on this builder. */
  async activeOnBuilder(builderId: string, db: Db = this.db): Promise<number> {
    const r = await db.get<{ n: number | string }>(
      `SELECT COUNT(*) AS n FROM build_builders bb JOIN builds b ON b.id = bb.build_id
       WHERE bb.builder_id = ? AND b.status IN ${ACTIVE_SQL}`,
      [builderId],
    );
    return Number(r?.n ?? 0);
  }

  /** Queued or running builds of a project. */
  async countActive(projectId: string, db: Db = this.db): Promise<number> {
    const r = await db.get<{ n: number | string }>(
      `SELECT COUNT(*) AS n FROM builds WHERE project_id = ? AND status IN ${ACTIVE_SQL}`,
      [projectId],
    );
    return Number(r?.n ?? 0);
  }

  /**
   * Deletes up to `limit` builds that finished before `before`, their platform rows and their
   * build tokens (already revoked); returns how many builds went. Run it in a transaction.
   */
  async purgeFinished(before: string, limit: number, db: Db = this.db): Promise<number> {
    const ids = (
      await db.all<{ id: string }>(
        `SELECT id FROM builds WHERE finished_at IS NOT NULL AND finished_at < ? AND status NOT IN ${ACTIVE_SQL}
         ORDER BY finished_at LIMIT ?`,
        [before, limit],
      )
    ).map((r) => r.id);
    if (ids.length === 0) return 0;
    const list = ids.map(() => '?').join(', ');
    await db.run(`DELETE FROM tokens WHERE kind = 'build' AND build_id IN (${list})`, ids);
    await db.run(`DELETE FROM build_certs WHERE build_id IN (${list})`, ids);
    await db.run(`DELETE FROM build_builders WHERE build_id IN (${list})`, ids);
    await db.run(`DELETE FROM builds WHERE id IN (${list})`, ids);
    return ids.length;
  }

  /** Waiting platform requests of active builds for (project, platform) that queued before `since` and polled after `polledAfter`. */
  async waitersBefore(
    projectId: string,
    platform: string,
    buildId: string,
    since: string,
    polledAfter: string,
    db: Db = this.db,
  ): Promise<number> {
    const r = await db.get<{ n: number | string }>(
      `SELECT COUNT(*) AS n FROM build_builders bb JOIN builds b ON b.id = bb.build_id
       WHERE b.project_id = ? AND bb.platform = ? AND bb.builder_id IS NULL AND bb.waiting_since IS NOT NULL
         AND b.status IN ${ACTIVE_SQL} AND bb.build_id <> ?
         AND (bb.waiting_since < ? OR (bb.waiting_since = ? AND bb.build_id < ?)) AND bb.last_poll_at >= ?`,
      [projectId, platform, buildId, since, since, buildId, polledAfter],
    );
    return Number(r?.n ?? 0);
  }

  async markWaiting(
    buildId: string,
    platform: string,
    now: string,
    db: Db = this.db,
  ): Promise<BuildBuilderRow> {
    await db.run(
      `UPDATE build_builders SET waiting_since = COALESCE(waiting_since, ?), last_poll_at = ? WHERE build_id = ? AND platform = ?`,
      [now, now, buildId, platform],
    );
    await db.run(`UPDATE builds SET last_heartbeat_at = ? WHERE id = ? AND status IN ${ACTIVE_SQL}`, [
      now,
      buildId,
    ]);
    return (await this.getBuildBuilder(buildId, platform, db))!;
  }

  /** Records the acquisition; false when the build stopped being active meanwhile. */
  async recordAcquired(
    a: {
      buildId: string;
      platform: string;
      builderId: string;
      now: string;
      certSerial: string;
      certExpiresAt: string;
    },
    db: Db = this.db,
  ): Promise<boolean> {
    const r = await db.run(
      `UPDATE builds SET status = 'running', acquired_at = COALESCE(acquired_at, ?), last_heartbeat_at = ?
       WHERE id = ? AND status IN ${ACTIVE_SQL}`,
      [a.now, a.now, a.buildId],
    );
    if (r.changes === 0) return false;
    await db.run(
      `UPDATE build_builders SET builder_id = ?, acquired_at = COALESCE(acquired_at, ?), last_poll_at = ?,
         cert_serial = ?, cert_expires_at = ? WHERE build_id = ? AND platform = ?`,
      [a.builderId, a.now, a.now, a.certSerial, a.certExpiresAt, a.buildId, a.platform],
    );
    await db.run('UPDATE builders SET last_used_at = ?, updated_at = ? WHERE id = ?', [
      a.now,
      a.now,
      a.builderId,
    ]);
    return true;
  }

  async heartbeat(buildId: string, now: string, db: Db = this.db): Promise<number> {
    const r = await db.run(
      `UPDATE builds SET last_heartbeat_at = ? WHERE id = ? AND status IN ${ACTIVE_SQL}`,
      [now, buildId],
    );
    return r.changes;
  }

  /** Moves an active build to a final status; false when it had already finished. */
  async finish(
    buildId: string,
    status: BuildStatus,
    error: string | null,
    now: string,
    db: Db = this.db,
  ): Promise<boolean> {
    const r = await db.run(
      `UPDATE builds SET status = ?, finished_at = ?, error = ? WHERE id = ? AND status IN ${ACTIVE_SQL}`,
      [status, now, error, buildId],
    );
    if (r.changes === 0) return false;
    // The idle timer of its builders starts now.
    await db.run(
      `UPDATE builders SET last_used_at = ?, updated_at = ? WHERE id IN
         (SELECT builder_id FROM build_builders WHERE build_id = ? AND builder_id IS NOT NULL)`,
      [now, now, buildId],
    );
    return true;
  }

  requestCancel(buildId: string, db: Db = this.db): Promise<{ changes: number }> {
    return db.run(`UPDATE builds SET cancel_requested = 1 WHERE id = ? AND status IN ${ACTIVE_SQL}`, [
      buildId,
    ]);
  }

  /** Active builds whose heartbeats stopped or whose deadline passed. */
  overdue(heartbeatBefore: string, now: string, db: Db = this.db): Promise<BuildRow[]> {
    return db.all<BuildRow>(
      `SELECT * FROM builds WHERE status IN ${ACTIVE_SQL} AND (last_heartbeat_at < ? OR expires_at <= ?)`,
      [heartbeatBefore, now],
    );
  }

  /** Active builds with a platform that has waited for a builder since before `before`. */
  waitedTooLong(before: string, db: Db = this.db): Promise<(BuildRow & { wait_platform: string })[]> {
    return db.all<BuildRow & { wait_platform: string }>(
      `SELECT b.*, bb.platform AS wait_platform FROM builds b JOIN build_builders bb ON bb.build_id = b.id
       WHERE b.status IN ${ACTIVE_SQL} AND bb.builder_id IS NULL AND bb.waiting_since IS NOT NULL AND bb.waiting_since < ?`,
      [before],
    );
  }

  async countWaitingSince(before: string, db: Db = this.db): Promise<number> {
    const r = await db.get<{ n: number | string }>(
      `SELECT COUNT(DISTINCT b.id) AS n FROM builds b JOIN build_builders bb ON bb.build_id = b.id
       WHERE b.status IN ${ACTIVE_SQL} AND bb.builder_id IS NULL AND b.queued_at < ?`,
      [before],
    );
    return Number(r?.n ?? 0);
  }

  async countByStatus(db: Db = this.db): Promise<Record<string, number>> {
    const rows = await db.all<{ status: string; n: number | string }>(
      'SELECT status, COUNT(*) AS n FROM builds GROUP BY status',
    );
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  // ---- client certificates ----

  async insertCert(c: Omit<BuildCertRow, 'revoked_at' | 'revoke_reason'>, db: Db = this.db): Promise<void> {
    await db.run(
      `INSERT INTO build_certs (serial, build_id, platform, builder_id, cert_pem, issued_at, not_after)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [c.serial, c.build_id, c.platform, c.builder_id, c.cert_pem, c.issued_at, c.not_after],
    );
  }

  /** The newest unrevoked certificate of each platform of a build. */
  async currentCerts(buildId: string, db: Db = this.db): Promise<BuildCertRow[]> {
    const rows = await db.all<BuildCertRow>(
      `SELECT * FROM build_certs WHERE build_id = ? AND revoked_at IS NULL ORDER BY platform, issued_at DESC, serial`,
      [buildId],
    );
    const out: BuildCertRow[] = [];
    for (const r of rows) if (!out.some((o) => o.platform === r.platform)) out.push(r);
    return out;
  }

  certsOf(buildId: string, db: Db = this.db): Promise<BuildCertRow[]> {
    return db.all<BuildCertRow>('SELECT * FROM build_certs WHERE build_id = ? ORDER BY issued_at, serial', [
      buildId,
    ]);
  }

  /** Revokes the unrevoked certificates of a build (of one platform when given); returns their serials. */
  async revokeCerts(
    buildId: string,
    reason: string,
    now: string,
    platform?: string,
    db: Db = this.db,
  ): Promise<string[]> {
    const where = platform === undefined ? '' : ' AND platform = ?';
    const params = platform === undefined ? [buildId] : [buildId, platform];
    const rows = await db.all<{ serial: string }>(
      `SELECT serial FROM build_certs WHERE build_id = ? AND revoked_at IS NULL${where}`,
      params,
    );
    if (rows.length === 0) return [];
    await db.run(
      `UPDATE build_certs SET revoked_at = ?, revoke_reason = ? WHERE build_id = ? AND revoked_at IS NULL${where}`,
      [now, reason, ...params],
    );
    return rows.map((r) => r.serial);
  }

  /**
   * Of these serials, the ones that may open a builder now: unrevoked, unexpired, of an active
   * build. With the builder they were issued for and their build.
   */
  liveCerts(
    serials: string[],
    now: string,
    unexpired: boolean,
    db: Db = this.db,
  ): Promise<{ serial: string; build_id: string; builder_id: string; platform: string }[]> {
    if (serials.length === 0) return Promise.resolve([]);
    return db.all(
      `SELECT c.serial, c.build_id, c.builder_id, c.platform FROM build_certs c JOIN builds b ON b.id = c.build_id
       WHERE c.serial IN (${serials.map(() => '?').join(', ')}) AND c.revoked_at IS NULL
         AND b.status IN ${ACTIVE_SQL}${unexpired ? ' AND c.not_after > ?' : ''}`,
      unexpired ? [...serials, now] : serials,
    );
  }

  /** Active builds whose creating token was revoked (or deleted). */
  orphanedByToken(db: Db = this.db): Promise<(BuildRow & { token_revoked_at: string | null })[]> {
    return db.all<BuildRow & { token_revoked_at: string | null }>(
      `SELECT b.*, t.revoked_at AS token_revoked_at FROM builds b LEFT JOIN tokens t ON t.id = b.created_by_token
       WHERE b.status IN ${ACTIVE_SQL} AND b.created_by_token IS NOT NULL AND (t.id IS NULL OR t.revoked_at IS NOT NULL)`,
    );
  }

  // ---- builders ----

  getBuilder(id: string, db: Db = this.db): Promise<BuilderRow | undefined> {
    return db.get<BuilderRow>('SELECT * FROM builders WHERE id = ?', [id]);
  }

  findPrimary(
    projectId: string,
    platform: string,
    pool: string,
    db: Db = this.db,
  ): Promise<BuilderRow | undefined> {
    return db.get<BuilderRow>(
      `SELECT * FROM builders WHERE project_id = ? AND platform = ? AND pool = ? AND role = 'primary'`,
      [projectId, platform, pool],
    );
  }

  /** Inserts the row; a primary that exists already wins (one per project, platform and pool). */
  async insertBuilderIfAbsent(b: BuilderRow, db: Db = this.db): Promise<BuilderRow> {
    const conflict =
      b.role === 'primary'
        ? ` ON CONFLICT (project_id, platform, pool) WHERE role = 'primary' DO NOTHING`
        : '';
    await db.run(
      `INSERT INTO builders (id, project_id, platform, role, provider, pool, snapshot_id, state, endpoint, pid,
         started_at, stopped_at, last_used_at, restarts, launch_failures, last_error, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)${conflict}`,
      [
        b.id,
        b.project_id,
        b.platform,
        b.role,
        b.provider,
        b.pool,
        b.snapshot_id,
        b.state,
        b.endpoint,
        b.pid,
        b.started_at,
        b.stopped_at,
        b.last_used_at,
        b.restarts,
        b.launch_failures,
        b.last_error,
        b.created_at,
        b.updated_at,
      ],
    );
    if (b.role !== 'primary') return b;
    return (await this.findPrimary(b.project_id, b.platform, b.pool, db))!;
  }

  /** Platforms of active builds that hold a builder, for adopting them after a restart. */
  activeHolders(db: Db = this.db): Promise<(BuildBuilderRow & { project_id: string; queued_at: string })[]> {
    return db.all(
      `SELECT bb.*, b.project_id, b.queued_at FROM build_builders bb JOIN builds b ON b.id = bb.build_id
       WHERE bb.builder_id IS NOT NULL AND b.status IN ${ACTIVE_SQL}`,
    );
  }

  /** Every platform of an active build that polled for a builder (the durable demand). */
  demand(db: Db = this.db): Promise<DemandRow[]> {
    return db.all<DemandRow>(
      `SELECT bb.build_id, bb.platform, b.project_id, b.queued_at, bb.builder_id, bb.placement
       FROM build_builders bb JOIN builds b ON b.id = bb.build_id
       WHERE b.status IN ${ACTIVE_SQL} AND (bb.waiting_since IS NOT NULL OR bb.builder_id IS NOT NULL)
       ORDER BY b.queued_at, bb.build_id, bb.platform`,
    );
  }

  async setPlacement(buildId: string, platform: string, placement: string, db: Db = this.db): Promise<void> {
    await db.run('UPDATE build_builders SET placement = ? WHERE build_id = ? AND platform = ?', [
      placement,
      buildId,
      platform,
    ]);
  }

  listBuilders(provider: string, db: Db = this.db): Promise<BuilderRow[]> {
    return db.all<BuilderRow>('SELECT * FROM builders WHERE provider = ? ORDER BY id', [provider]);
  }

  async updateBuilder(id: string, patch: Partial<BuilderRow>, now: string, db: Db = this.db): Promise<void> {
    const keys = Object.keys(patch) as (keyof BuilderRow)[];
    if (keys.length === 0) return;
    await db.run(
      `UPDATE builders SET ${keys.map((k) => `${k} = ?`).join(', ')}, updated_at = ? WHERE id = ?`,
      [...keys.map((k) => patch[k] as string | number | null), now, id],
    );
  }

  /**
   * Marks a builder stopped unless its row changed since `seenUpdatedAt` (another replica launched
   * or adopted it meanwhile); true when it did.
   */
  async markStoppedIfUnchanged(
    id: string,
    seenUpdatedAt: string,
    now: string,
    db: Db = this.db,
  ): Promise<boolean> {
    const r = await db.run(
      `UPDATE builders SET state = 'stopped', pid = NULL, stopped_at = ?, updated_at = ? WHERE id = ? AND updated_at = ?`,
      [now, now, id, seenUpdatedAt],
    );
    return r.changes > 0;
  }

  async countBuildersRunning(db: Db = this.db): Promise<number> {
    const r = await db.get<{ n: number | string }>(
      `SELECT COUNT(*) AS n FROM builders WHERE state = 'running'`,
    );
    return Number(r?.n ?? 0);
  }
}

export function toBuildInfo(b: BuildRow, bbs: BuildBuilderRow[], buildUrl: string): BuildInfo {
  const platforms = JSON.parse(b.platforms) as string[];
  return {
    id: b.id,
    project_id: b.project_id,
    status: b.status,
    platforms,
    builders: platforms.map((p) => ({
      platform: p,
      builder_id: bbs.find((x) => x.build_id === b.id && x.platform === p)?.builder_id ?? null,
    })),
    queued_at: b.queued_at,
    acquired_at: b.acquired_at,
    finished_at: b.finished_at,
    error: b.error,
    build_url: buildUrl,
    ...bakeTargets(b.options),
  };
}

/** The targets a `hoist bake` recorded in its options, when it is one. */
function bakeTargets(options: string): Pick<BuildInfo, 'targets'> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(options);
  } catch {
    return {};
  }
  const targets = (parsed as { targets?: unknown } | null)?.targets;
  if (!Array.isArray(targets)) return {};
  return {
    targets: targets
      .filter((t): t is { name: string; platforms?: unknown } => typeof t?.name === 'string')
      .map((t) => ({
        name: t.name,
        platforms: Array.isArray(t.platforms) ? t.platforms.filter((p) => typeof p === 'string') : [],
      })),
  };
}
