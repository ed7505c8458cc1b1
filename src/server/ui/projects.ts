// The projects pages' routes. The forms change what the admin API changes, in one transaction
// with the same audit events; the signed-in admin token is the subject.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditEvent } from '../../lib/api-types.js';
import { TrustPolicyStore } from '../auth/trust-store.js';
import { ApiError } from '../http/errors.js';
import type { HoistDeps } from '../http/plugin.js';
import { updateProjectAudited } from '../projects/update.js';
import { iso } from '../util.js';
import { type Form, parseClaims, policyInput, previewClaims, settingsPatch, tokenRequest } from './forms.js';
import {
  type ProjectPageData,
  type ProjectSummary,
  type RecentClaims,
  projectPage,
  projectsPage,
} from './project-pages.js';

const OIDC_ACTION = 'auth.github_oidc';
const MAX_RECENT = 20;

/** The recorded claims of an exchange (its audit details without Hoist's own fields). */
export function claimsOfEvent(e: AuditEvent): Record<string, unknown> {
  const {
    policy_id: _p,
    token_id: _t,
    pinned: _pin,
    client_ip: _c,
    count: _n,
    first_at: _f,
    last_at: _l,
    ...rest
  } = e.details;
  return rest;
}

export function registerProjectPages(
  ui: FastifyInstance,
  deps: HoistDeps,
  afterRevoke: () => Promise<unknown>,
): void {
  const { db, projects, tokens, audit, clock } = deps;
  const trust = new TrustPolicyStore(db, clock);
  const page = (reply: FastifyReply, body: string): FastifyReply =>
    reply.type('text/html; charset=utf-8').send(body);
  const idOf = (r: FastifyRequest): string => (r.params as { id: string }).id;
  const form = (r: FastifyRequest): Form => (r.body as Form | undefined) ?? {};

  /**
   * Exchanges that concern this project: its own, and unattributed refusals of a repository
   * one of its policies names (the "no project trusts this repository" ones). Never another
   * project's.
   */
  const oidcEvents = async (projectId: string, repos: Set<string>): Promise<AuditEvent[]> => {
    const rows = await db.all<Omit<AuditEvent, 'details'> & { details: string }>(
      `SELECT * FROM audit_events WHERE action = ? AND (project_id = ? OR project_id IS NULL)
       ORDER BY id DESC LIMIT 200`,
      [OIDC_ACTION, projectId],
    );
    return rows
      .map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> }))
      .filter(
        (e) =>
          e.project_id === projectId ||
          (typeof e.details.repository === 'string' && repos.has(e.details.repository.toLowerCase())),
      );
  };

  const load = async (idOrName: string, extra: Partial<ProjectPageData> = {}): Promise<ProjectPageData> => {
    const project = await projects.require(idOrName);
    const [toks, policies] = await Promise.all([
      tokens.list({ project_id: project.id, kind: 'project' }),
      trust.list(project.id),
    ]);
    const repos = new Set(policies.map((p) => p.repository.toLowerCase()));
    const events = await oidcEvents(project.id, repos);
    const refused = await db.all<Omit<AuditEvent, 'details'> & { details: string }>(
      `SELECT * FROM audit_events WHERE project_id = ? AND outcome = 'refused' ORDER BY id DESC LIMIT 100`,
      [project.id],
    );
    const refusals = [
      ...refused.map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> })),
      ...events.filter((e) => e.project_id === null && e.outcome === 'refused'),
    ].sort((a, b) => (a.id < b.id ? 1 : -1));
    const recentClaims: RecentClaims[] = events
      .filter((e) => typeof e.details.repository === 'string' && typeof e.details.ref === 'string')
      .slice(0, MAX_RECENT)
      .map((e) => ({
        event_id: e.id,
        at: e.at,
        outcome: e.outcome,
        label: `${String(e.details.repository)} ${String(e.details.ref)} (${String(e.details.event_name ?? '?')}${e.details.workflow ? `, ${String(e.details.workflow)}` : ''})`,
      }));
    return { project, tokens: toks, policies, refusals, recentClaims, ...extra };
  };

  const render = async (
    request: FastifyRequest,
    reply: FastifyReply,
    extra: Partial<ProjectPageData> = {},
    status = 200,
  ): Promise<FastifyReply> =>
    page(
      reply.code(status),
      projectPage(await load(idOf(request), extra), request.uiSession!.csrf, iso(clock.now())),
    );

  /** Back to the project page after a change (a reload does not post the form again). */
  const done = (reply: FastifyReply, projectId: string, notice: string): FastifyReply =>
    reply.redirect(`/ui/projects/${projectId}?notice=${encodeURIComponent(notice)}`, 303);

  const NOTICES = new Set(['settings saved', 'token revoked', 'trust policy added', 'trust policy removed']);

  ui.get('/ui/projects', async (request, reply) => {
    const list = await projects.list();
    const stats = await db.all<{ project_id: string; builds: number; active: number; last: string | null }>(
      `SELECT project_id, COUNT(*) AS builds, SUM(CASE WHEN status IN ('queued', 'running') THEN 1 ELSE 0 END) AS active,
         MAX(queued_at) AS last FROM builds GROUP BY project_id`,
    );
    const by = new Map(stats.map((s) => [s.project_id, s]));
    const rows: ProjectSummary[] = list.map((project) => {
      const s = by.get(project.id);
      return {
        project,
        builds: Number(s?.builds ?? 0),
        active: Number(s?.active ?? 0),
        last_build_at: s?.last ?? null,
      };
    });
    return page(reply, projectsPage(rows, request.uiSession!.csrf));
  });

  ui.get('/ui/projects/:id', async (request, reply) => {
    const n = (request.query as Record<string, unknown>).notice;
    return render(request, reply, { notice: typeof n === 'string' && NOTICES.has(n) ? n : undefined });
  });

  ui.post('/ui/projects/:id/settings', async (request, reply) => {
    const f = form(request);
    const patch = settingsPatch(f, await projects.require(idOf(request)));
    if (!patch.ok) {
      return render(
        request,
        reply,
        { error: { form: 'settings', message: patch.error }, values: strings(f) },
        400,
      );
    }
    const p = await updateProjectAudited(deps, idOf(request), patch.value, {
      subject: request.uiSession!.token_id,
      reason: 'project updated from the dashboard',
    });
    return done(reply, p.id, 'settings saved');
  });

  ui.post('/ui/projects/:id/tokens', async (request, reply) => {
    const f = form(request);
    const req = tokenRequest(f);
    if (!req.ok) {
      return render(
        request,
        reply,
        { error: { form: 'token', message: req.error }, values: strings(f) },
        400,
      );
    }
    const ttl = req.value.expires_in ?? deps.config.projectTokenTtlSec;
    const minted = await db.transaction(async (tx) => {
      const p = await projects.require(idOf(request), tx);
      const m = await tokens.mint(
        {
          kind: 'project',
          name: req.value.name,
          project_id: p.id,
          expires_at: ttl ? new Date(clock.now().getTime() + ttl * 1000) : null,
        },
        tx,
      );
      await audit.record(
        {
          action: 'token.create',
          outcome: 'ok',
          project_id: p.id,
          subject: request.uiSession!.token_id,
          reason: `project token ${m.info.id} created from the dashboard`,
          details: { token_id: m.info.id, name: req.value.name },
        },
        tx,
      );
      return m;
    });
    // Rendered, not redirected: the secret is in this one response and nowhere else.
    return render(
      request,
      reply.code(201),
      { newToken: { id: minted.info.id, name: minted.info.name, token: minted.token } },
      201,
    );
  });

  ui.post('/ui/projects/:id/tokens/:tokenId/revoke', async (request, reply) => {
    const tokenId = (request.params as { tokenId: string }).tokenId;
    const p = await db.transaction(async (tx) => {
      const p = await projects.require(idOf(request), tx);
      const t = await tokens.revoke(tokenId, { project_id: p.id }, tx);
      await audit.record(
        {
          action: 'token.revoke',
          outcome: 'ok',
          project_id: p.id,
          subject: request.uiSession!.token_id,
          reason: `token ${t.id} revoked from the dashboard`,
          details: { token_id: t.id },
        },
        tx,
      );
      return p;
    });
    // as after DELETE on the API: the token's builds end now, not at the next sweep
    await afterRevoke().catch((err: unknown) =>
      request.log.error({ err }, 'ending the builds of a revoked token failed'),
    );
    return done(reply, p.id, 'token revoked');
  });

  ui.post('/ui/projects/:id/trust-policies', async (request, reply) => {
    const f = form(request);
    const input = policyInput(f);
    if (!input.ok) {
      return render(
        request,
        reply,
        { error: { form: 'policy', message: input.error }, values: strings(f) },
        400,
      );
    }
    const p = await db.transaction(async (tx) => {
      const p = await projects.require(idOf(request), tx);
      const policy = await trust.add(p.id, input.value, tx);
      await audit.record(
        {
          action: 'trust_policy.create',
          outcome: 'ok',
          project_id: p.id,
          subject: request.uiSession!.token_id,
          reason: `trust policy ${policy.id} for ${policy.repository} added from the dashboard`,
          details: { policy },
        },
        tx,
      );
      return p;
    });
    return done(reply, p.id, 'trust policy added');
  });

  ui.post('/ui/projects/:id/trust-policies/:policyId/delete', async (request, reply) => {
    const policyId = (request.params as { policyId: string }).policyId;
    const p = await db.transaction(async (tx) => {
      const p = await projects.require(idOf(request), tx);
      await trust.remove(p.id, policyId, tx);
      await audit.record(
        {
          action: 'trust_policy.delete',
          outcome: 'ok',
          project_id: p.id,
          subject: request.uiSession!.token_id,
          reason: `trust policy ${policyId} removed from the dashboard`,
          details: {},
        },
        tx,
      );
      return p;
    });
    return done(reply, p.id, 'trust policy removed');
  });

  ui.post('/ui/projects/:id/preview', async (request, reply) => {
    const f = form(request);
    const project = await projects.require(idOf(request));
    let raw = typeof f.claims === 'string' ? f.claims : '';
    const eventId = typeof f.event === 'string' ? f.event : '';
    if (eventId) {
      const policies = await trust.list(project.id);
      const events = await oidcEvents(project.id, new Set(policies.map((x) => x.repository.toLowerCase())));
      const e = events.find((x) => x.id === eventId);
      if (!e) {
        throw new ApiError(
          404,
          'event_not_found',
          `no recent exchange ${eventId} of project ${project.name}`,
        );
      }
      raw = JSON.stringify(claimsOfEvent(e), null, 2);
    }
    if (raw.length > 16 * 1024) {
      return render(
        request,
        reply,
        { error: { form: 'preview', message: 'the claims are over 16 KiB; paste only the token payload' } },
        400,
      );
    }
    const parsed = parseClaims(raw);
    if (!parsed.ok) {
      return render(
        request,
        reply,
        { error: { form: 'preview', message: parsed.error }, claimsText: raw },
        400,
      );
    }
    const policies = await trust.list(project.id);
    const preview = previewClaims(parsed.value.claims, parsed.value.missing, project, policies);
    return render(request, reply, { preview, claimsText: raw });
  });
}

/** A posted form's string fields, to fill the form again after an error. */
function strings(f: Form): Record<string, string> {
  return Object.fromEntries(
    Object.entries(f).filter((e): e is [string, string] => typeof e[1] === 'string' && e[0] !== 'csrf'),
  );
}
