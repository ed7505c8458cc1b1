import type { TrustPolicy, TrustPolicyInput } from '../../lib/api-types.js';
import type { Db } from '../db/index.js';
import { notFound } from '../http/errors.js';
import type { PolicyPin, PolicyWithProject } from './trust.js';
import { type Clock, iso, newId } from '../util.js';

/** A trust_policies row: the wire shape with refs as JSON text and the flag as 0/1. */
type PolicyRow = Omit<TrustPolicy, 'refs' | 'allow_pull_request_target'> & {
  refs: string;
  allow_pull_request_target: number;
};

const toPolicy = (r: PolicyRow): TrustPolicy => ({
  id: r.id,
  project_id: r.project_id,
  provider: r.provider,
  repository: r.repository,
  repository_id: r.repository_id,
  repository_owner_id: r.repository_owner_id,
  refs: JSON.parse(r.refs) as string[],
  environment: r.environment,
  workflow: r.workflow,
  allow_pull_request_target: Number(r.allow_pull_request_target) === 1,
  created_at: r.created_at,
});

const COLUMNS =
  'id, project_id, provider, repository, repository_id, repository_owner_id, refs, environment, workflow, allow_pull_request_target, created_at';

export class TrustPolicyStore {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async add(projectId: string, input: TrustPolicyInput, db: Db = this.db): Promise<TrustPolicy> {
    const p: TrustPolicy = {
      id: newId('tp'),
      project_id: projectId,
      provider: 'github',
      repository: input.repository,
      repository_id: input.repository_id ?? null,
      repository_owner_id: input.repository_owner_id ?? null,
      refs: input.refs ?? [],
      environment: input.environment ?? null,
      workflow: input.workflow ?? null,
      allow_pull_request_target: input.allow_pull_request_target ?? false,
      created_at: iso(this.clock.now()),
    };
    await db.run(
      `INSERT INTO trust_policies (${COLUMNS}, repository_lc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        p.id,
        p.project_id,
        p.provider,
        p.repository,
        p.repository_id,
        p.repository_owner_id,
        JSON.stringify(p.refs),
        p.environment,
        p.workflow,
        p.allow_pull_request_target ? 1 : 0,
        p.created_at,
        p.repository.toLowerCase(),
      ],
    );
    return p;
  }

  async list(projectId: string, db: Db = this.db): Promise<TrustPolicy[]> {
    const rows = await db.all<PolicyRow>(
      `SELECT ${COLUMNS} FROM trust_policies WHERE project_id = ? ORDER BY id`,
      [projectId],
    );
    return rows.map(toPolicy);
  }

  async remove(projectId: string, policyId: string, db: Db = this.db): Promise<void> {
    const r = await db.run('DELETE FROM trust_policies WHERE id = ? AND project_id = ?', [
      policyId,
      projectId,
    ]);
    if (r.changes === 0) {
      throw notFound('trust_policy_not_found', `project ${projectId} has no trust policy ${policyId}`);
    }
  }

  /** Every policy naming this repository (case-insensitive), with its project. */
  async forRepository(repository: string, db: Db = this.db): Promise<PolicyWithProject[]> {
    const rows = await db.all<PolicyRow & { project_name: string }>(
      `SELECT ${COLUMNS.split(', ')
        .map((c) => `t.${c}`)
        .join(
          ', ',
        )}, p.name AS project_name FROM trust_policies t JOIN projects p ON p.id = t.project_id WHERE t.repository_lc = ? ORDER BY t.id${
        // Inside an exchange's transaction: hold the rows so a concurrent first use cannot pin them differently.
        db.dialect === 'postgres' ? ' FOR UPDATE OF t' : ''
      }`,
      [repository.toLowerCase()],
    );
    return rows.map((r) => ({ policy: toPolicy(r), project: { id: r.project_id, name: r.project_name } }));
  }

  /** Records ids on first use; only fills empty columns, so a concurrent pin cannot be overwritten. */
  async pin(pins: PolicyPin[], db: Db = this.db): Promise<void> {
    for (const p of pins) {
      if (p.repository_id) {
        await db.run('UPDATE trust_policies SET repository_id = ? WHERE id = ? AND repository_id IS NULL', [
          p.repository_id,
          p.policy_id,
        ]);
      }
      if (p.repository_owner_id) {
        await db.run(
          'UPDATE trust_policies SET repository_owner_id = ? WHERE id = ? AND repository_owner_id IS NULL',
          [p.repository_owner_id, p.policy_id],
        );
      }
    }
  }
}
