import type { AuditEvent } from '../../lib/api-types.js';
import type { Db } from '../db/index.js';
import { type Clock, iso, newId } from '../util.js';

export type AuditInput = Omit<AuditEvent, 'id' | 'at'>;

interface AuditRow {
  id: string;
  at: string;
  action: string;
  outcome: AuditEvent['outcome'];
  project_id: string | null;
  subject: string | null;
  reason: string;
  details: string;
  agg_key?: string | null;
  agg_count?: number | string | null;
  agg_last_at?: string | null;
}

/** Refusals to add to one aggregated row (see RefusalAudit). */
export interface AggregateDelta {
  /** Unique per aggregated row: who, why and which window. */
  key: string;
  count: number;
  /** ISO times of the first and last refusal counted here. */
  firstAt: string;
  lastAt: string;
  /** The row to create when no replica has created it yet. */
  event: AuditInput;
}

/** Rows a multi-row UPSERT carries at once (11 parameters each, far below PostgreSQL's 65535). */
const AGG_CHUNK = 500;

/**
 * An audit row as the API shows it: an aggregated row's count and first and last times live in
 * columns (so replicas add to them atomically) and are shown in its details.
 */
export function eventOfRow(r: AuditRow): AuditEvent {
  const details = JSON.parse(r.details) as Record<string, unknown>;
  if (r.agg_key) {
    details.count = Number(r.agg_count);
    details.first_at = r.at;
    details.last_at = r.agg_last_at;
  }
  return {
    id: r.id,
    at: r.at,
    action: r.action,
    outcome: r.outcome,
    project_id: r.project_id,
    subject: r.subject,
    reason: r.reason,
    details,
  };
}

/**
 * Append-only audit events (except the counts of aggregated refusals, see RefusalAudit). Write
 * them inside the transaction of the change they describe.
 */
export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async record(e: AuditInput, db: Db = this.db): Promise<AuditEvent> {
    const ev: AuditEvent = { id: newId('aud'), at: iso(this.clock.now()), ...e };
    await db.run(
      'INSERT INTO audit_events (id, at, action, outcome, project_id, subject, reason, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [ev.id, ev.at, ev.action, ev.outcome, ev.project_id, ev.subject, ev.reason, JSON.stringify(ev.details)],
    );
    return ev;
  }

  /**
   * Adds counts to aggregated rows, creating those that do not exist yet, atomically whatever
   * other replicas write at the same time: the unique `agg_key` makes a second insert of a row an
   * increment of its count (and widens its first and last times). Nothing else about an event
   * ever changes. One statement per 500 rows, several in one transaction.
   */
  async addToAggregates(deltas: AggregateDelta[]): Promise<void> {
    if (!deltas.length) return;
    // One order for every replica: two batches that share rows lock them in the same order, so
    // concurrent flushes on PostgreSQL wait for each other instead of deadlocking.
    deltas = [...deltas].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const [least, greatest] = this.db.dialect === 'postgres' ? ['LEAST', 'GREATEST'] : ['min', 'max'];
    const write = async (tx: Db): Promise<void> => {
      for (let i = 0; i < deltas.length; i += AGG_CHUNK) {
        const chunk = deltas.slice(i, i + AGG_CHUNK);
        const params = chunk.flatMap((d) => [
          newId('aud'),
          d.firstAt,
          d.event.action,
          d.event.outcome,
          d.event.project_id,
          d.event.subject,
          d.event.reason,
          JSON.stringify(d.event.details),
          d.key,
          d.count,
          d.lastAt,
        ]);
        await tx.run(
          `INSERT INTO audit_events (id, at, action, outcome, project_id, subject, reason, details, agg_key, agg_count, agg_last_at)
           VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}
           ON CONFLICT (agg_key) DO UPDATE SET
             agg_count = audit_events.agg_count + excluded.agg_count,
             at = ${least}(audit_events.at, excluded.at),
             agg_last_at = ${greatest}(audit_events.agg_last_at, excluded.agg_last_at)`,
          params,
        );
      }
    };
    // One statement is atomic on its own: no BEGIN and COMMIT round trips for it.
    if (deltas.length <= AGG_CHUNK) await write(this.db);
    else await this.db.transaction(write);
  }

  /** Newest first. */
  async list(
    q: { project_id?: string; action?: string; before?: string; limit?: number } = {},
    db: Db = this.db,
  ): Promise<AuditEvent[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.project_id) {
      where.push('project_id = ?');
      params.push(q.project_id);
    }
    if (q.action) {
      where.push('action = ?');
      params.push(q.action);
    }
    if (q.before) {
      where.push('id < ?');
      params.push(q.before);
    }
    params.push(Math.min(Math.max(q.limit ?? 100, 1), 1000));
    const rows = await db.all<AuditRow>(
      `SELECT * FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
      params,
    );
    return rows.map(eventOfRow);
  }
}
