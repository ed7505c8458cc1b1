import { randomBytes } from 'node:crypto';
import { TOKEN_PREFIXES, type TokenInfo, type TokenKind } from '../../lib/api-types.js';
import type { Db } from '../db/index.js';
import { notFound, unauthorized } from '../http/errors.js';
import { type Clock, iso, newId, sha256Hex } from '../util.js';

/** Who a request's Bearer token belongs to. A non-admin token is bound to one project. */
export interface AuthContext {
  kind: TokenKind;
  token_id: string;
  /** null only for admin tokens. */
  project_id: string | null;
  /** Set for build tokens: the one build this token may drive. */
  build_id: string | null;
}

export interface MintRequest {
  kind: TokenKind;
  name: string;
  project_id?: string | null;
  build_id?: string | null;
  expires_at?: Date | null;
}

interface TokenRow {
  id: string;
  kind: TokenKind;
  name: string;
  project_id: string | null;
  build_id: string | null;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

const COLUMNS = 'id, kind, name, project_id, build_id, created_at, expires_at, last_used_at, revoked_at';

export function toTokenInfo(r: TokenRow): TokenInfo {
  return {
    id: r.id,
    kind: r.kind,
    name: r.name,
    project_id: r.project_id,
    build_id: r.build_id,
    created_at: r.created_at,
    expires_at: r.expires_at,
    last_used_at: r.last_used_at,
    revoked_at: r.revoked_at,
  };
}

const KIND_BY_PREFIX = Object.entries(TOKEN_PREFIXES).map(([k, p]) => [p, k as TokenKind] as const);

/** The token kind its prefix announces, or null for a string that is no Hoist token. */
export function tokenKindOf(token: string): TokenKind | null {
  for (const [prefix, kind] of KIND_BY_PREFIX) if (token.startsWith(prefix)) return kind;
  return null;
}

/**
 * Random tokens with a typed prefix (hoist_adm_, hoist_prj_, hoist_oidc_, hoist_bld_), stored only
 * as SHA-256 hashes. Methods take an optional `db` so callers can mint inside their transaction.
 */
export class TokenService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async mint(req: MintRequest, db: Db = this.db): Promise<{ token: string; info: TokenInfo }> {
    if (req.kind !== 'admin' && !req.project_id) throw new Error(`a ${req.kind} token needs a project`);
    if (req.kind === 'build' && !req.build_id) throw new Error('a build token needs a build id');
    const token = TOKEN_PREFIXES[req.kind] + randomBytes(32).toString('base64url');
    const row: TokenRow = {
      id: newId('tok'),
      kind: req.kind,
      name: req.name,
      project_id: req.kind === 'admin' ? null : (req.project_id ?? null),
      build_id: req.build_id ?? null,
      created_at: iso(this.clock.now()),
      expires_at: req.expires_at ? iso(req.expires_at) : null,
      last_used_at: null,
      revoked_at: null,
    };
    await db.run(
      `INSERT INTO tokens (id, kind, name, project_id, build_id, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        row.id,
        row.kind,
        row.name,
        row.project_id,
        row.build_id,
        sha256Hex(token),
        row.created_at,
        row.expires_at,
      ],
    );
    return { token, info: toTokenInfo(row) };
  }

  /** Resolves a presented token, records its use, and refuses unknown, revoked or expired ones. */
  async authenticate(token: string): Promise<AuthContext> {
    const kind = tokenKindOf(token);
    if (!kind) {
      throw unauthorized(
        'invalid_token',
        `the token is not a Hoist token (expected one starting with ${Object.values(TOKEN_PREFIXES).join(', ')})`,
      );
    }
    const row = await this.db.get<TokenRow>(`SELECT ${COLUMNS} FROM tokens WHERE hash = ?`, [
      sha256Hex(token),
    ]);
    if (!row || row.kind !== kind) {
      throw unauthorized('invalid_token', 'the token is not known to this Hoist server');
    }
    const now = this.clock.now();
    if (row.revoked_at)
      throw unauthorized('token_revoked', `the token "${row.name}" was revoked at ${row.revoked_at}`);
    if (row.expires_at && row.expires_at <= iso(now)) {
      throw unauthorized('token_expired', `the token "${row.name}" expired at ${row.expires_at}`);
    }
    await this.db.run('UPDATE tokens SET last_used_at = ? WHERE id = ?', [iso(now), row.id]);
    return { kind: row.kind, token_id: row.id, project_id: row.project_id, build_id: row.build_id };
  }

  async get(id: string, db: Db = this.db): Promise<TokenInfo | undefined> {
    const row = await db.get<TokenRow>(`SELECT ${COLUMNS} FROM tokens WHERE id = ?`, [id]);
    return row && toTokenInfo(row);
  }

  async list(filter: { project_id?: string; kind?: TokenKind }, db: Db = this.db): Promise<TokenInfo[]> {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.project_id) {
      where.push('project_id = ?');
      params.push(filter.project_id);
    }
    if (filter.kind) {
      where.push('kind = ?');
      params.push(filter.kind);
    }
    const rows = await db.all<TokenRow>(
      `SELECT ${COLUMNS} FROM tokens ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id`,
      params,
    );
    return rows.map(toTokenInfo);
  }

  /** Revokes one token (idempotent); 404 when it does not exist or belongs to another project. */
  async revoke(id: string, opts: { project_id?: string } = {}, db: Db = this.db): Promise<TokenInfo> {
    const cur = await this.get(id, db);
    if (!cur || (opts.project_id !== undefined && cur.project_id !== opts.project_id)) {
      throw notFound(
        'token_not_found',
        `no token with id ${id}${opts.project_id ? ` in project ${opts.project_id}` : ''}`,
      );
    }
    if (!cur.revoked_at) {
      await db.run('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [
        iso(this.clock.now()),
        id,
      ]);
    }
    return (await this.get(id, db))!;
  }

  /** Revokes every token of a build: called when the build finishes or expires. */
  async revokeForBuild(buildId: string, db: Db = this.db): Promise<number> {
    const r = await db.run('UPDATE tokens SET revoked_at = ? WHERE build_id = ? AND revoked_at IS NULL', [
      iso(this.clock.now()),
      buildId,
    ]);
    return r.changes;
  }

  /** Mints the token of one build: kind build, bound to its project and build id. */
  mintBuildToken(
    opts: { project_id: string; build_id: string; expires_at: Date; name?: string },
    db: Db = this.db,
  ): Promise<{ token: string; info: TokenInfo }> {
    return this.mint(
      {
        kind: 'build',
        name: opts.name ?? `build ${opts.build_id}`,
        project_id: opts.project_id,
        build_id: opts.build_id,
        expires_at: opts.expires_at,
      },
      db,
    );
  }
}
