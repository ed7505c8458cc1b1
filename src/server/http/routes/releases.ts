import { createReadStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { CliRelease } from '../../../lib/api-types.js';
import { badRequest, notFound } from '../errors.js';
import type { HoistDeps } from '../plugin.js';
import {
  RELEASE_FILE,
  classifySpec,
  fileDigest,
  normalizeArch,
  normalizeOs,
  releasePath,
  resolveVersion,
  scanReleases,
} from '../../releases/catalog.js';

/** CLI releases for the setup action: resolve a spec, then download the tarball. No token needed. */
export function registerReleaseRoutes(app: FastifyInstance, deps: HoistDeps): void {
  const dir = deps.config.releasesDir;

  app.get<{ Params: { spec: string }; Querystring: { os?: string; arch?: string } }>(
    '/v1/cli/releases/:spec',
    {
      schema: {
        params: { type: 'object', properties: { spec: { type: 'string', minLength: 1, maxLength: 128 } } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { os: { type: 'string', maxLength: 32 }, arch: { type: 'string', maxLength: 32 } },
        },
      },
    },
    async (req) => {
      const spec = req.params.spec;
      if (!classifySpec(spec)) {
        throw badRequest(
          'invalid_version_spec',
          `"${spec}" is not a version spec; use latest, an exact version such as 1.2.3, or a semver range such as ^1.2`,
        );
      }
      const os = normalizeOs(req.query.os ?? process.platform);
      if (!os)
        throw badRequest(
          'invalid_request',
          `querystring.os "${req.query.os}" is not known; use linux, darwin or win32`,
        );
      const arch = normalizeArch(req.query.arch ?? process.arch);
      if (!arch)
        throw badRequest(
          'invalid_request',
          `querystring.arch "${req.query.arch}" is not known; use x64 or arm64`,
        );
      const all = await scanReleases(dir);
      const mine = all.filter((r) => r.os === os && r.arch === arch);
      const version = resolveVersion(
        spec,
        mine.map((r) => r.version),
      );
      if (!version) {
        const have = [...new Set(mine.map((r) => r.version))].join(', ');
        throw notFound(
          'release_not_found',
          mine.length
            ? `no CLI release for ${os}-${arch} matches "${spec}"; available: ${have}`
            : `this server has no CLI release for ${os}-${arch}${all.length ? '' : ' (its releases directory is empty; build the CLI with npm run build or set --releases-dir)'}`,
        );
      }
      const rel = mine.find((r) => r.version === version)!;
      const { sha256, size } = await fileDigest(releasePath(dir, rel.file));
      const body: CliRelease = {
        version,
        url: `${deps.publicUrl()}/v1/cli/downloads/${rel.file}`,
        sha256,
        size,
      };
      return body;
    },
  );

  app.get<{ Params: { file: string } }>('/v1/cli/downloads/:file', async (req, reply) => {
    const file = req.params.file;
    if (!RELEASE_FILE.test(file)) throw notFound('release_not_found', `no CLI release file "${file}"`);
    const all = await scanReleases(dir);
    if (!all.some((r) => r.file === file))
      throw notFound('release_not_found', `no CLI release file "${file}"`);
    const path = releasePath(dir, file);
    const { sha256, size } = await fileDigest(path);
    return reply
      .header('content-type', 'application/gzip')
      .header('content-length', size)
      .header('x-checksum-sha256', sha256)
      .header('content-disposition', `attachment; filename="${file}"`)
      .send(createReadStream(path));
  });
}
