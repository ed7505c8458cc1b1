import * as http from 'node:http';
import * as https from 'node:https';
import type { CliRelease } from '../../lib/api-types.js';
import { HoistApiError, errorMessage } from '../../lib/errors.js';
import { normalizeApiUrl } from '../../lib/client.js';
import { hoistTrust } from '../../lib/trust.js';
import type { ReleaseSource } from './install.js';

/**
 * GET /v1/cli/releases/{spec} over node:http. The setup step is on every
 * job's critical path and a tool-cache hit should cost little more than
 * starting node; fetch() would first load undici (tens of ms on a busy runner).
 * Errors read like HoistClient's.
 */
export class HttpReleaseSource implements ReleaseSource {
  readonly apiUrl: string;

  constructor(
    apiUrl: string,
    private readonly timeoutMs = 30_000,
  ) {
    this.apiUrl = normalizeApiUrl(apiUrl);
  }

  cliRelease(spec: string, target?: { os: string; arch: string }): Promise<CliRelease> {
    const query = target
      ? `?os=${encodeURIComponent(target.os)}&arch=${encodeURIComponent(target.arch)}`
      : '';
    const path = `/v1/cli/releases/${encodeURIComponent(spec)}${query}`;
    const url = new URL(`${this.apiUrl}${path}`);
    const get = url.protocol === 'https:' ? https.get : http.get;
    return new Promise<CliRelease>((resolve, reject) => {
      const req = get(
        url,
        {
          headers: { accept: 'application/json', 'user-agent': 'hoist-setup-action' },
          timeout: this.timeoutMs,
          ...(url.protocol === 'https:' ? { ca: hoistTrust() } : {}),
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('error', (err) => reject(this.unreachable(err)));
          res.on('end', () => {
            let parsed: unknown;
            try {
              parsed = body ? JSON.parse(body) : undefined;
            } catch {
              parsed = undefined;
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300 && parsed !== undefined) return resolve(parsed as CliRelease);
            const e = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
            reject(
              new HoistApiError(
                status,
                e?.code ?? `http_${status}`,
                e?.message ?? `GET ${path} answered HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ''}`,
              ),
            );
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err) => reject(this.unreachable(err)));
    });
  }

  private unreachable(err: unknown): HoistApiError {
    return new HoistApiError(
      0,
      'unreachable',
      `cannot reach the Hoist server at ${this.apiUrl}: ${errorMessage(err)}. Check the api-url input (or HOIST_API_URL) and that the server is running.`,
    );
  }
}
