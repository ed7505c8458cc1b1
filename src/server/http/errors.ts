import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiErrorBody } from '../../lib/api-types.js';
import { PROJECT_NAME_PATTERN } from '../projects/store.js';

/** An answer the client caused or can act on; becomes `{error: {code, message}}` with `status`. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra response headers, e.g. Retry-After on a 429. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (code: string, message: string): ApiError => new ApiError(400, code, message);
export const unauthorized = (code: string, message: string): ApiError => new ApiError(401, code, message);
export const forbidden = (code: string, message: string): ApiError => new ApiError(403, code, message);
export const notFound = (code: string, message: string): ApiError => new ApiError(404, code, message);
export const conflict = (code: string, message: string): ApiError => new ApiError(409, code, message);
export const tooLarge = (code: string, message: string): ApiError => new ApiError(413, code, message);
export const tooMany = (code: string, message: string, retryAfterSec: number): ApiError =>
  new ApiError(429, code, message, { 'retry-after': String(retryAfterSec) });

export function errorBody(code: string, message: string): ApiErrorBody {
  return { error: { code, message } };
}

interface AjvError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

/**
 * What the schemas' patterns mean, for people who do not read regular expressions. A function:
 * projects.ts imports this module, so its constant is read at call time, not at load time.
 */
const patternHints = (): Record<string, string> => ({
  [PROJECT_NAME_PATTERN]:
    'up to 63 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit, e.g. my-app',
  '^refs/': 'a full ref or glob, e.g. refs/heads/main, refs/heads/release/* or refs/tags/v*',
  '^[0-9]+$': "GitHub's numeric id, e.g. from https://api.github.com/repos/OWNER/NAME",
  '^[0-9]{1,4}$': 'a whole number',
});

/** "body.refs[0] must be string": names the field, from the first schema error. */
export function validationMessage(context: string, errors: AjvError[]): string {
  const e = errors[0];
  if (!e) return `${context} is invalid`;
  const path =
    context +
    e.instancePath
      .split('/')
      .slice(1)
      .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p.replace(/~1/g, '/').replace(/~0/g, '~')}`))
      .join('');
  switch (e.keyword) {
    case 'required':
      return `${path}.${String(e.params.missingProperty)} is required`;
    case 'additionalProperties':
      return `${path}.${String(e.params.additionalProperty)} is not a known field; remove it`;
    case 'type':
      return `${path} must be ${String(e.params.type).split(',').join(' or ')}`;
    case 'pattern': {
      const pattern = String(e.params.pattern);
      const hint = patternHints()[pattern];
      return `${path} must match pattern "${pattern}"${hint ? `: ${hint}` : ''}`;
    }
    case 'enum':
      return `${path} must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${path} ${e.message ?? 'is invalid'}`;
  }
}

/** Fastify error handler: never a stack or a 5xx for bad input. */
export function handleError(
  err: FastifyError | ApiError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  if (err instanceof ApiError) {
    return reply.code(err.status).headers(err.headers).send(errorBody(err.code, err.message));
  }
  const fe = err as FastifyError & { validation?: AjvError[]; validationContext?: string };
  if (fe.validation) {
    return reply
      .code(400)
      .send(errorBody('invalid_request', validationMessage(fe.validationContext ?? 'body', fe.validation)));
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return reply
        .code(413)
        .send(
          errorBody(
            'body_too_large',
            `the request body is larger than the limit of ${request.routeOptions.bodyLimit ?? 0} bytes`,
          ),
        );
    // Bodies are parsed by app.ts's own parser, whose errors are ApiErrors; these come from Fastify.
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return reply
        .code(400)
        .send(
          errorBody(
            'invalid_body',
            'the request body is not valid JSON; send a JSON object with Content-Type: application/json',
          ),
        );
    default:
      break;
  }
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) {
    return reply.code(status).send(errorBody(String(fe.code ?? `http_${status}`).toLowerCase(), fe.message));
  }
  request.log.error({ err }, 'request failed');
  return reply.code(500).send(errorBody('internal', 'internal server error; the server log has the details'));
}
