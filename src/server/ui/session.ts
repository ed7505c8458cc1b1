// Dashboard sessions: an admin token is exchanged once for a random session id in an
// HttpOnly, SameSite=Strict cookie. Only its SHA-256 is stored; the session dies with the
// admin token (revoked or expired), at sign-out, or after SESSION_TTL_MS.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/index.js';
import { type Clock, iso, sha256Hex } from '../util.js';

export const SESSION_COOKIE = 'hoist_session';
export const SESSION_TTL_MS = 12 * 3600_000;

export interface Session {
  token_id: string;
  csrf: string;
}

/** The value of one cookie in a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/** Constant-time comparison of two strings (a CSRF token against the session's). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * A form post comes from the dashboard itself when its Origin is the server's public origin.
 * A missing Origin is refused: every browser that runs the dashboard sends one on POST.
 */
export function originAllowed(origin: string | undefined, publicUrl: string): boolean {
  if (!origin) return false;
  try {
    return new URL(origin).origin === new URL(publicUrl).origin;
  } catch {
    return false;
  }
}

export function sessionCookie(id: string, secure: boolean, maxAgeSec: number): string {
  return `${SESSION_COOKIE}=${id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSec}${secure ? '; Secure' : ''}`;
}

export class Sessions {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async create(tokenId: string): Promise<{ id: string; csrf: string }> {
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(24).toString('base64url');
    const now = this.clock.now();
    await this.db.run(
      'INSERT INTO ui_sessions (id_hash, token_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
      [sha256Hex(id), tokenId, csrf, iso(now), iso(new Date(now.getTime() + SESSION_TTL_MS))],
    );
    // expired sessions go now and then, with the sign-ins that make new ones
    await this.db.run('DELETE FROM ui_sessions WHERE expires_at < ?', [iso(now)]);
    return { id, csrf };
  }

  /** The live session of a cookie value: unexpired, its admin token neither revoked nor expired. */
  async get(id: string | undefined): Promise<Session | undefined> {
    if (!id || id.length > 128) return undefined;
    const now = iso(this.clock.now());
    return this.db.get<Session>(
      `SELECT s.token_id, s.csrf FROM ui_sessions s JOIN tokens t ON t.id = s.token_id
       WHERE s.id_hash = ? AND s.expires_at > ? AND t.kind = 'admin' AND t.revoked_at IS NULL
         AND (t.expires_at IS NULL OR t.expires_at > ?)`,
      [sha256Hex(id), now, now],
    );
  }

  async delete(id: string | undefined): Promise<void> {
    if (id) await this.db.run('DELETE FROM ui_sessions WHERE id_hash = ?', [sha256Hex(id)]);
  }
}
