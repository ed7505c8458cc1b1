// A change of a project's name or settings as the admin API (PATCH /v1/projects/:id) and the
// dashboard's settings form both make it: in one transaction with its `project.update` audit
// event, so a change is never kept without its record (nor the record without the change).
import type { Project, UpdateProjectRequest } from '../../lib/api-types.js';
import type { AuditLog } from '../audit/log.js';
import type { Db } from '../db/index.js';
import type { ProjectStore } from './store.js';

export async function updateProjectAudited(
  deps: { db: Db; projects: ProjectStore; audit: AuditLog },
  id: string,
  patch: UpdateProjectRequest,
  by: { subject: string; reason: string },
): Promise<Project> {
  return deps.db.transaction(async (tx) => {
    const p = await deps.projects.update(id, patch, tx);
    await deps.audit.record(
      {
        action: 'project.update',
        outcome: 'ok',
        project_id: p.id,
        subject: by.subject,
        reason: by.reason,
        details: { ...patch },
      },
      tx,
    );
    return p;
  });
}
