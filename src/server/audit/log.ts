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
}

/**
 * Append-only audit events (except the count of an aggregated refusal, see RefusalAudit). Write
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
   * Replaces the details of one event. Only aggregated refusals use it, to bring their `count`
   * up to date when their window closes; nothing else about an event ever changes.
   */
  async updateDetails(id: string, details: Record<string, unknown>, db: Db = this.db): Promise<void> {
    await db.run('UPDATE audit_events SET details = ? WHERE id = ?', [JSON.stringify(details), id]);
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
    return rows.map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> }));
  }
}
