import type { FastifyInstance } from 'fastify';
import type {
  CreateProjectRequest,
  CreateTokenRequest,
  CreateTokenResponse,
  TokenKind,
  TrustPolicyInput,
  UpdateProjectRequest,
} from '../../../lib/api-types.js';
import type { Db } from '../../db/index.js';
import { badRequest } from '../errors.js';
import type { HoistDeps } from '../plugin.js';
import { PROJECT_NAME_PATTERN } from '../../projects/store.js';
import { updateProjectAudited } from '../../projects/update.js';
import type { TrustPolicyStore } from '../../auth/trust-store.js';
import { iso } from '../../util.js';

const idParam = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1, maxLength: 128 } },
  required: ['id'],
} as const;

const projectName = { type: 'string', pattern: PROJECT_NAME_PATTERN, maxLength: 63 } as const;
// Types only: ranges and the settings' rules are checked by projects/settings.ts, whose
// messages name the field and the accepted range.
const settingsProps = {
  max_concurrent_builds: { type: ['number', 'null'] },
  autoscaling: { type: 'boolean' },
  max_builders_per_platform: { type: 'number' },
} as const;
const GLOB = { type: 'string', minLength: 1, maxLength: 256, pattern: '^refs/' } as const;
const tokenBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    expires_in: { type: 'integer', minimum: 60, maximum: 10 * 365 * 86400 },
  },
} as const;

function checkRepository(repo: string): void {
  if (!/^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/.test(repo)) {
    throw badRequest('invalid_request', `body.repository must be "owner/name" as in GitHub, got "${repo}"`);
  }
}

/** The admin API: projects, project tokens, trust policies, audit events. */
export function registerManagementRoutes(
  app: FastifyInstance,
  deps: HoistDeps,
  trust: TrustPolicyStore,
): void {
  const { auth, projects, tokens, audit, db, clock } = deps;
  const admin = { preHandler: auth.require('admin') };

  /** Mints an admin or project token and audits it, in the caller's transaction. */
  const mintAudited = async (
    tx: Db,
    req: { kind: 'admin' | 'project'; name: string; project_id: string | null; ttlSec: number | null },
    subject: string,
  ): Promise<CreateTokenResponse> => {
    const minted = await tokens.mint(
      {
        kind: req.kind,
        name: req.name,
        project_id: req.project_id,
        expires_at: req.ttlSec ? new Date(clock.now().getTime() + req.ttlSec * 1000) : null,
      },
      tx,
    );
    await audit.record(
      {
        action: 'token.create',
        outcome: 'ok',
        project_id: req.project_id,
        subject,
        reason: `${req.kind} token ${minted.info.id} created`,
        details: { token_id: minted.info.id, name: req.name },
      },
      tx,
    );
    return { ...minted.info, token: minted.token };
  };

  app.post<{ Body: CreateProjectRequest }>(
    '/v1/projects',
    {
      ...admin,
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: { name: projectName, ...settingsProps },
        },
      },
    },
    async (req, reply) => {
      const p = await db.transaction(async (tx) => {
        const p = await projects.create(req.body, tx);
        await audit.record(
          {
            action: 'project.create',
            outcome: 'ok',
            project_id: p.id,
            subject: req.hoistAuth!.token_id,
            reason: `project ${p.name} created`,
            details: {},
          },
          tx,
        );
        return p;
      });
      return reply.code(201).send(p);
    },
  );

  app.get('/v1/projects', admin, async () => ({ projects: await projects.list() }));

  app.get<{ Params: { id: string } }>(
    '/v1/projects/:id',
    { ...admin, schema: { params: idParam } },
    async (req) => projects.require(req.params.id),
  );

  app.patch<{ Params: { id: string }; Body: UpdateProjectRequest }>(
    '/v1/projects/:id',
    {
      ...admin,
      schema: {
        params: idParam,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { name: projectName, ...settingsProps },
        },
      },
    },
    async (req) =>
      updateProjectAudited(deps, req.params.id, req.body, {
        subject: req.hoistAuth!.token_id,
        reason: 'project updated',
      }),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/projects/:id',
    { ...admin, schema: { params: idParam } },
    async (req, reply) => {
      await db.transaction(async (tx) => {
        const p = await projects.delete(req.params.id, tx);
        await audit.record(
          {
            action: 'project.delete',
            outcome: 'ok',
            project_id: p.id,
            subject: req.hoistAuth!.token_id,
            reason: `project ${p.name} deleted`,
            details: {},
          },
          tx,
        );
      });
      return reply.code(204).send();
    },
  );

  // ---- project tokens ----
  app.post<{ Params: { id: string }; Body: CreateTokenRequest }>(
    '/v1/projects/:id/tokens',
    {
      ...admin,
      schema: {
        params: idParam,
        body: tokenBody,
      },
    },
    async (req, reply) => {
      const body = await db.transaction(async (tx) => {
        const p = await projects.require(req.params.id, tx);
        return mintAudited(
          tx,
          {
            kind: 'project',
            name: req.body.name,
            project_id: p.id,
            ttlSec: req.body.expires_in ?? deps.config.projectTokenTtlSec,
          },
          req.hoistAuth!.token_id,
        );
      });
      return reply.code(201).send(body);
    },
  );

  app.get<{ Params: { id: string }; Querystring: { kind?: TokenKind | 'all' } }>(
    '/v1/projects/:id/tokens',
    {
      ...admin,
      schema: {
        params: idParam,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { kind: { type: 'string', enum: ['project', 'oidc', 'build', 'all'] } },
        },
      },
    },
    async (req) => {
      const p = await projects.require(req.params.id);
      const kind = req.query.kind ?? 'project';
      return { tokens: await tokens.list({ project_id: p.id, ...(kind === 'all' ? {} : { kind }) }) };
    },
  );

  app.delete<{ Params: { id: string; tokenId: string } }>(
    '/v1/projects/:id/tokens/:tokenId',
    admin,
    async (req) =>
      db.transaction(async (tx) => {
        const p = await projects.require(req.params.id, tx);
        const t = await tokens.revoke(req.params.tokenId, { project_id: p.id }, tx);
        await audit.record(
          {
            action: 'token.revoke',
            outcome: 'ok',
            project_id: p.id,
            subject: req.hoistAuth!.token_id,
            reason: `token ${t.id} revoked`,
            details: { token_id: t.id },
          },
          tx,
        );
        return t;
      }),
  );

  // ---- admin tokens ----
  app.post<{ Body: CreateTokenRequest }>(
    '/v1/admin/tokens',
    {
      ...admin,
      schema: {
        body: tokenBody,
      },
    },
    async (req, reply) => {
      const body = await db.transaction((tx) =>
        mintAudited(
          tx,
          { kind: 'admin', name: req.body.name, project_id: null, ttlSec: req.body.expires_in ?? null },
          req.hoistAuth!.token_id,
        ),
      );
      return reply.code(201).send(body);
    },
  );
  app.get('/v1/admin/tokens', admin, async () => ({ tokens: await tokens.list({ kind: 'admin' }) }));
  app.delete<{ Params: { tokenId: string } }>('/v1/admin/tokens/:tokenId', admin, async (req) => {
    const cur = await tokens.get(req.params.tokenId);
    if (cur && cur.kind !== 'admin') {
      throw badRequest(
        'not_admin_token',
        `token ${cur.id} is a ${cur.kind} token; revoke it under its project`,
      );
    }
    if (cur && cur.id === req.hoistAuth!.token_id) {
      throw badRequest('revoke_self', 'a token cannot revoke itself; use another admin token');
    }
    return db.transaction(async (tx) => {
      const t = await tokens.revoke(req.params.tokenId, {}, tx);
      await audit.record(
        {
          action: 'token.revoke',
          outcome: 'ok',
          project_id: null,
          subject: req.hoistAuth!.token_id,
          reason: `admin token ${t.id} revoked`,
          details: { token_id: t.id },
        },
        tx,
      );
      return t;
    });
  });

  // ---- trust policies ----
  app.post<{ Params: { id: string }; Body: TrustPolicyInput }>(
    '/v1/projects/:id/trust-policies',
    {
      ...admin,
      schema: {
        params: idParam,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['provider', 'repository'],
          properties: {
            provider: { type: 'string', enum: ['github'] },
            repository: { type: 'string', minLength: 3, maxLength: 200 },
            repository_id: { type: 'string', pattern: '^[0-9]+$', maxLength: 20 },
            repository_owner_id: { type: 'string', pattern: '^[0-9]+$', maxLength: 20 },
            refs: { type: 'array', items: GLOB, maxItems: 50 },
            environment: { type: 'string', minLength: 1, maxLength: 255 },
            workflow: { type: 'string', minLength: 1, maxLength: 512 },
            allow_pull_request_target: { type: 'boolean' },
          },
        },
      },
    },
    async (req, reply) => {
      checkRepository(req.body.repository);
      const policy = await db.transaction(async (tx) => {
        const p = await projects.require(req.params.id, tx);
        const policy = await trust.add(p.id, req.body, tx);
        await audit.record(
          {
            action: 'trust_policy.create',
            outcome: 'ok',
            project_id: p.id,
            subject: req.hoistAuth!.token_id,
            reason: `trust policy ${policy.id} for ${policy.repository} added`,
            details: { policy },
          },
          tx,
        );
        return policy;
      });
      return reply.code(201).send(policy);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/projects/:id/trust-policies',
    { ...admin, schema: { params: idParam } },
    async (req) => {
      const p = await projects.require(req.params.id);
      return { trust_policies: await trust.list(p.id) };
    },
  );

  app.delete<{ Params: { id: string; policyId: string } }>(
    '/v1/projects/:id/trust-policies/:policyId',
    admin,
    async (req, reply) => {
      await db.transaction(async (tx) => {
        const p = await projects.require(req.params.id, tx);
        await trust.remove(p.id, req.params.policyId, tx);
        await audit.record(
          {
            action: 'trust_policy.delete',
            outcome: 'ok',
            project_id: p.id,
            subject: req.hoistAuth!.token_id,
            reason: `trust policy ${req.params.policyId} removed`,
            details: {},
          },
          tx,
        );
      });
      return reply.code(204).send();
    },
  );

  // ---- audit ----
  app.get<{ Querystring: { project?: string; action?: string; before?: string; limit?: string } }>(
    '/v1/audit',
    {
      ...admin,
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            project: { type: 'string', maxLength: 128 },
            action: { type: 'string', maxLength: 64 },
            before: { type: 'string', maxLength: 64 },
            limit: { type: 'string', pattern: '^[0-9]{1,4}$' },
          },
        },
      },
    },
    async (req) => {
      const q = req.query;
      let projectId: string | undefined;
      if (q.project) projectId = (await projects.find(q.project))?.id ?? q.project;
      const limit = q.limit === undefined ? 100 : Number(q.limit);
      if (limit < 1 || limit > 1000)
        throw badRequest('invalid_request', 'querystring.limit must be between 1 and 1000');
      return {
        events: await audit.list({ project_id: projectId, action: q.action, before: q.before, limit }),
      };
    },
  );

  app.get('/v1/auth/whoami', async (req) => {
    const who = await auth.authenticate(req);
    return { ...who, checked_at: iso(clock.now()) };
  });
}
