import type { Project, ProjectSettings } from '../../lib/api-types.js';
import type { Db } from '../db/index.js';
import { badRequest, conflict, notFound } from '../http/errors.js';
import { type Clock, iso, newId } from '../util.js';
import { applySettings, DEFAULT_MAX_BUILDERS_PER_PLATFORM, type EffectiveSettings } from './settings.js';

export const PROJECT_NAME_PATTERN = '^[a-z0-9][a-z0-9._-]{0,62}$';

/**
 * A name shaped like an id (prj_…, or any PREFIX_ + 25 id characters) is refused: commands take
 * "id or name", and a project named after another's id would make them act on the other one.
 */
export function nameLooksLikeId(name: string): boolean {
  return name.startsWith('prj_') || /^[a-z]{2,4}_[0-9a-z]{25}$/.test(name);
}

function settled(current: EffectiveSettings, patch: ProjectSettings): EffectiveSettings {
  const r = applySettings(current, patch);
  if (!r.ok) throw badRequest('invalid_settings', r.message);
  return r.settings;
}

function checkName(name: string): void {
  if (nameLooksLikeId(name)) {
    throw badRequest(
      'invalid_name',
      `the project name "${name}" looks like an id (ids are PREFIX_ and 25 letters or digits, and project ids start with "prj_"); commands that take "id or name" could then act on another project. Pick another name, such as my-app`,
    );
  }
}

interface ProjectRow {
  id: string;
  name: string;
  max_concurrent_builds: number | null;
  autoscaling: number | boolean;
  max_builders_per_platform: number;
  created_at: string;
  updated_at: string;
}
const toProject = (r: ProjectRow): Project => ({
  id: r.id,
  name: r.name,
  max_concurrent_builds: r.max_concurrent_builds === null ? null : Number(r.max_concurrent_builds),
  autoscaling: Boolean(Number(r.autoscaling)),
  max_builders_per_platform: Number(r.max_builders_per_platform),
  created_at: r.created_at,
  updated_at: r.updated_at,
});

/** Projects: create, find by id or name, update, delete (cascades to tokens and trust policies). */
export class ProjectStore {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async create(p: { name: string } & ProjectSettings, db: Db = this.db): Promise<Project> {
    checkName(p.name);
    const settings = settled(
      {
        max_concurrent_builds: null,
        autoscaling: false,
        max_builders_per_platform: DEFAULT_MAX_BUILDERS_PER_PLATFORM,
      },
      p,
    );
    const now = iso(this.clock.now());
    const row: ProjectRow = {
      id: newId('prj'),
      name: p.name,
      ...settings,
      created_at: now,
      updated_at: now,
    };
    const r = await db.run(
      'INSERT INTO projects (id, name, max_concurrent_builds, autoscaling, max_builders_per_platform, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING',
      [
        row.id,
        row.name,
        settings.max_concurrent_builds,
        settings.autoscaling ? 1 : 0,
        settings.max_builders_per_platform,
        row.created_at,
        row.updated_at,
      ],
    );
    if (r.changes === 0)
      throw conflict('project_exists', `a project named "${p.name}" already exists; pick another name`);
    return toProject(row);
  }

  async list(db: Db = this.db): Promise<Project[]> {
    return (await db.all<ProjectRow>('SELECT * FROM projects ORDER BY name')).map(toProject);
  }

  /** By id, else by name. */
  async find(idOrName: string, db: Db = this.db): Promise<Project | undefined> {
    const r = await db.get<ProjectRow>(
      'SELECT * FROM projects WHERE id = ? OR name = ? ORDER BY (id = ?) DESC',
      [idOrName, idOrName, idOrName],
    );
    return r && toProject(r);
  }

  async require(idOrName: string, db: Db = this.db): Promise<Project> {
    const p = await this.find(idOrName, db);
    if (!p)
      throw notFound(
        'project_not_found',
        `no project with id or name "${idOrName}"; list them with GET /v1/projects`,
      );
    return p;
  }

  async update(
    idOrName: string,
    patch: { name?: string } & ProjectSettings,
    db: Db = this.db,
  ): Promise<Project> {
    if (patch.name !== undefined) checkName(patch.name);
    const cur = await this.require(idOrName, db);
    const next: Project = {
      ...cur,
      ...settled(cur, patch),
      name: patch.name ?? cur.name,
      updated_at: iso(this.clock.now()),
    };
    if (next.name !== cur.name) {
      const clash = await db.get('SELECT id FROM projects WHERE name = ? AND id <> ?', [next.name, cur.id]);
      if (clash)
        throw conflict('project_exists', `a project named "${next.name}" already exists; pick another name`);
    }
    await db.run(
      'UPDATE projects SET name = ?, max_concurrent_builds = ?, autoscaling = ?, max_builders_per_platform = ?, updated_at = ? WHERE id = ?',
      [
        next.name,
        next.max_concurrent_builds,
        next.autoscaling ? 1 : 0,
        next.max_builders_per_platform,
        next.updated_at,
        cur.id,
      ],
    );
    return next;
  }

  async delete(idOrName: string, db: Db = this.db): Promise<Project> {
    const cur = await this.require(idOrName, db);
    await db.run('DELETE FROM projects WHERE id = ?', [cur.id]);
    return cur;
  }
}
