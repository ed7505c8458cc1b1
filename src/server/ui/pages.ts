// The dashboard's pages as pure functions of their data: server-rendered HTML, no inline
// script or style (the CSP forbids both); bars are SVG shapes sized by attributes.
import type { BuildInfo, BuildInsights, BuildPhases, BuildStep, StepWarning } from '../../lib/api-types.js';
import type { BuildListRow, ListFilter } from '../insights/store.js';
import { Html, html, safeHref } from './html.js';

const STATUSES = ['queued', 'running', 'success', 'failed', 'canceled', 'expired'];

export function layout(title: string, body: Html, opts: { csrf?: string; live?: string } = {}): string {
  return `<!doctype html>${
    html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Hoist</title>
<link rel="stylesheet" href="/ui/assets/app.css">
<script src="/ui/assets/app.js" defer></script>
</head>
<body${opts.live ? html` data-live="${opts.live}"` : ''}>
<header class="top">
<a class="brand" href="/ui/builds">Hoist</a>
${
  opts.csrf
    ? html`<nav>
          <a href="/ui/builds">Builds</a><a href="/ui/projects">Projects</a><a href="/ui/builders">Builders</a
          ><a href="/ui/charts">Charts</a>
        </nav>
        <form method="post" action="/ui/logout" class="logout">
          <input type="hidden" name="csrf" value="${opts.csrf}" /><button type="submit">Sign out</button>
        </form>`
    : ''
}
</header>
<main>${body}</main>
</body>
</html>`.value
  }`;
}

export function loginPage(error?: string): string {
  return layout(
    'Sign in',
    html`<h1>Sign in</h1>
      <p>
        Paste an admin token (<code>hoist_adm_…</code>). It is exchanged for a session cookie and not kept by
        the browser.
      </p>
      ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
      <form method="post" action="/ui/login" class="login">
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" autocomplete="off" required />
        <button type="submit">Sign in</button>
      </form>`,
  );
}

export function errorPage(status: number, message: string, csrf?: string): string {
  return layout(
    `Error ${status}`,
    html`<h1>Error ${status}</h1>
      <p class="error" role="alert">${message}</p>`,
    {
      csrf,
    },
  );
}

const ms = (a: string | null, b: string | null): number | null =>
  a && b ? Math.max(0, Date.parse(b) - Date.parse(a)) : null;

/** 950 → "950 ms", 61_000 → "1m 1s". */
export function formatDuration(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '—';
  if (v < 1000) return `${Math.round(v)} ms`;
  const s = v / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
}

const shortRef = (ref: string | null): string | null =>
  ref ? ref.replace(/^refs\/heads\//, '').replace(/^refs\/tags\//, 'tag ') : null;

const PHASES: [keyof BuildPhases, string][] = [
  ['queued_ms', 'queued'],
  ['setup_ms', 'acquired'],
  ['build_ms', 'solve and push'],
  ['cleanup_ms', 'cleanup'],
];

/** A horizontal bar of the phases, each segment's width its share of the total. */
export function phaseBar(phases: BuildPhases | null, width = 140): Html {
  if (!phases) return html`<span class="muted">—</span>`;
  const total = PHASES.reduce((n, [k]) => n + (phases[k] ?? 0), 0);
  if (total <= 0) return html`<span class="muted">—</span>`;
  let x = 0;
  const rects = PHASES.map(([k, label]) => {
    const v = phases[k] ?? 0;
    const w = (v / total) * width;
    const r = html`<rect
      class="ph-${k.replace('_ms', '')}"
      x="${x.toFixed(1)}"
      y="0"
      width="${w.toFixed(1)}"
      height="10"
      ><title>${label}: ${formatDuration(v)}</title></rect
    >`;
    x += w;
    return r;
  });
  return html`<svg
    class="phasebar"
    width="${width}"
    height="10"
    viewBox="0 0 ${width} 10"
    role="img"
    aria-label="phases"
  >
    ${rects}
  </svg>`;
}

function statusBadge(status: string): Html {
  return html`<span class="badge st-${status}">${status}</span>`;
}

export function buildRows(rows: BuildListRow[]): Html {
  if (rows.length === 0)
    return html`<tr>
      <td colspan="11" class="muted">No builds match.</td>
    </tr>`;
  return html`${rows.map((r) => {
    const run = safeHref(r.run_url);
    const phases = r.phases ? (JSON.parse(r.phases) as BuildPhases) : null;
    const end = r.finished_at ?? null;
    return html`<tr data-build="${r.id}" data-status="${r.status}">
      <td>${statusBadge(r.status)}</td>
      <td><a href="/ui/builds/${r.id}">${r.id}</a></td>
      <td>${r.project_name}</td>
      <td>${r.repository ?? html`<span class="muted">${r.source ?? ''}</span>`}</td>
      <td>${shortRef(r.ref) ?? ''}</td>
      <td class="mono">${r.sha ? r.sha.slice(0, 7) : ''}</td>
      <td>${run ? html`<a href="${run}" rel="noopener noreferrer">run</a>` : ''}</td>
      <td class="num">
        ${end ? formatDuration(ms(r.queued_at, end)) : html`<span class="muted">${r.status}</span>`}
      </td>
      <td>${phaseBar(phases)}</td>
      <td class="num cached">${r.steps_total ? `cached ${r.steps_cached ?? 0} of ${r.steps_total}` : ''}</td>
      <td class="num saved">${r.saved_ms ? formatDuration(r.saved_ms) : ''}</td>
    </tr>`;
  })}`;
}

export function buildsPage(
  rows: BuildListRow[],
  filter: ListFilter,
  csrf: string,
  nextBefore?: string,
): string {
  const q = (k: keyof ListFilter): string => String(filter[k] ?? '');
  const more = nextBefore
    ? `/ui/builds?${new URLSearchParams({
        ...Object.fromEntries(
          (['project', 'status', 'repository', 'branch'] as const)
            .filter((k) => filter[k])
            .map((k) => [k, q(k)]),
        ),
        before: nextBefore,
      }).toString()}`
    : null;
  return layout(
    'Builds',
    html`<h1>Builds</h1>
      <form method="get" action="/ui/builds" class="filters">
        <label>Project <input name="project" value="${q('project')}" /></label>
        <label
          >Status
          <select name="status">
            <option value="">any</option>
            ${STATUSES.map(
              (s) => html`<option value="${s}" ${filter.status === s ? html` selected` : ''}>${s}</option>`,
            )}
          </select></label
        >
        <label
          >Repository <input name="repository" value="${q('repository')}" placeholder="owner/name"
        /></label>
        <label>Branch <input name="branch" value="${q('branch')}" placeholder="main" /></label>
        <button type="submit">Filter</button>
      </form>
      <table class="builds">
        <thead>
          <tr>
            <th>Status</th>
            <th>Build</th>
            <th>Project</th>
            <th>Repository</th>
            <th>Ref</th>
            <th>Commit</th>
            <th>GitHub</th>
            <th>Duration</th>
            <th>Phases</th>
            <th>Steps</th>
            <th title="each cached step's last uncached duration">Time saved</th>
          </tr>
        </thead>
        <tbody id="builds-rows">
          ${buildRows(rows)}
        </tbody>
      </table>
      ${more ? html`<p><a href="${more}">Older builds</a></p>` : ''}`,
    { csrf },
  );
}

/** Dockerfile lines with the build-check warnings under the lines they point at. */
export function dockerfileView(contents: string, warnings: StepWarning[]): Html {
  const at = new Map<number, StepWarning[]>();
  for (const w of warnings) {
    if (w.line === null) continue;
    const list = at.get(w.line) ?? [];
    list.push(w);
    at.set(w.line, list);
  }
  const lines = contents.replace(/\n$/, '').split('\n');
  return html`<ol class="dockerfile">
    ${lines.map((text, i) => {
      const ws = at.get(i + 1) ?? [];
      return html`<li id="L${i + 1}" ${ws.length ? html` class="warned"` : ''}>
        <code>${text}</code>${ws.map(
          (w) =>
            html`<div class="warning" role="note">
              ⚠ ${w.rule ? html`<strong>${w.rule}</strong> ` : ''}${w.message}
            </div>`,
        )}
      </li>`;
    })}
  </ol>`;
}

/**
 * How steps that started and have not completed are drawn: up to `until` (now, or when the build
 * ended), marked running while the build runs and "not completed" once it ended.
 */
export interface OpenSteps {
  until: string;
  running: boolean;
}

/** One platform's steps as a waterfall: a bar per step on a shared time axis. */
export function waterfall(
  unsorted: BuildStep[],
  breakDigest: string | null,
  critical: Set<string> = new Set(),
  width = 420,
  open: OpenSteps | null = null,
): Html {
  const at = (s: BuildStep): number => (s.started_at ? Date.parse(s.started_at) : Number.MAX_SAFE_INTEGER);
  const steps = [...unsorted].sort((a, b) => at(a) - at(b));
  const isOpen = (s: BuildStep): boolean => open !== null && !!s.started_at && !s.completed_at && !s.error;
  const endOf = (s: BuildStep): string | null => (isOpen(s) ? open!.until : s.completed_at);
  const times = steps.flatMap((s) => [s.started_at, endOf(s)]).filter((t): t is string => !!t);
  const t0 = Math.min(...times.map(Date.parse));
  const t1 = Math.max(...times.map(Date.parse));
  const span = Math.max(1, t1 - t0);
  return html`<table class="waterfall">
    <thead>
      <tr>
        <th>Step</th>
        <th>Timeline (${formatDuration(span)})</th>
        <th>Duration</th>
        <th></th>
      </tr>
    </thead>
    <tbody>
      ${steps.map((s) => {
        const start = s.started_at ? Date.parse(s.started_at) : null;
        const endAt = endOf(s);
        const end = endAt ? Math.max(Date.parse(endAt), start ?? 0) : start;
        const x = start === null ? 0 : ((start - t0) / span) * width;
        const w = start === null || end === null ? 0 : Math.max(2, ((end - start) / span) * width);
        const unfinished = isOpen(s);
        const cls = s.error
          ? 'err'
          : unfinished
            ? open!.running
              ? 'running'
              : 'open'
            : s.cached
              ? 'cached'
              : 'run';
        const isBreak = s.digest === breakDigest;
        const crit = critical.has(s.digest);
        const state = unfinished
          ? open!.running
            ? 'running'
            : 'not-completed'
          : s.completed_at
            ? 'done'
            : 'waiting';
        return html`<tr
            class="step${isBreak ? ' break' : ''}${s.error ? ' failed' : ''}${crit ? ' critical' : ''}${unfinished ? ` ${state}` : ''}"
            data-state="${state}"
          >
            <td class="stepname">
              ${s.name}${isBreak ? html` <span class="badge break" title="the first step that was not cached">cache broke here</span>` : ''}
            </td>
            <td>
              <svg width="${width}" height="12" viewBox="0 0 ${width} 12">
                <rect
                  class="${cls}${crit ? ' crit' : ''}"
                  x="${x.toFixed(1)}"
                  y="1"
                  width="${w.toFixed(1)}"
                  height="10"
                ></rect>
              </svg>
            </td>
            <td class="num">${formatDuration(ms(s.started_at, unfinished ? null : s.completed_at))}</td>
            <td>
              ${unfinished ? (open!.running ? html`<span class="badge st-running">running</span>` : html`<span class="badge notdone" title="the build ended before this step completed">not completed</span>`) : ''}${s.cached ? html`<span class="badge cached">cached</span>` : ''}${s.error ? html`<span class="badge st-failed">error</span>` : ''}${crit ? html`<span class="badge crit" title="on the critical path: the chain of steps that set the build's length">critical</span>` : ''}
            </td>
          </tr>
          ${
            s.error || (isBreak && s.log_tail)
              ? html`<tr class="steplog"><td colspan="4"><details${s.error ? html` open` : ''}><summary>${s.error ? `Error: ${s.error}` : 'Output'}</summary><pre class="log">${s.log_tail}</pre></details></td></tr>`
              : ''
          }`;
      })}
    </tbody>
  </table>`;
}

const kv = (pairs: [string, Html | string | null | undefined][]): Html =>
  html`<dl class="kv">
    ${pairs
      .filter(([, v]) => v !== null && v !== undefined && v !== '')
      .map(
        ([k, v]) =>
          html`<dt>${k}</dt>
            <dd>${v}</dd>`,
      )}
  </dl>`;

export function buildPage(
  b: BuildInfo & { insights: BuildInsights },
  projectName: string,
  csrf: string,
  now: Date = new Date(),
): string {
  const ins = b.insights;
  const g = ins.context?.github ?? {};
  const run = safeHref(g.run_url);
  const platforms = [...new Set(ins.steps.map((s) => s.platform))];
  const brk = ins.cache_break;
  const breakStep = brk
    ? ins.steps.find((s) => s.platform === brk.platform && s.name === brk.step)
    : undefined;
  const failed = ins.steps.filter((s) => s.error);
  const live = b.status === 'queued' || b.status === 'running' ? b.id : undefined;
  // a step that started and never completed: running now, or cut off by the build's end
  const open: OpenSteps = live
    ? { until: now.toISOString(), running: true }
    : { until: b.finished_at ?? now.toISOString(), running: false };
  return layout(
    `Build ${b.id}`,
    html`<h1>Build <span class="mono">${b.id}</span> ${statusBadge(b.status)}</h1>
      ${b.error ? html`<p class="error" role="alert">${b.error}</p>` : ''}
      <section class="cards">
        <div class="card">
          <h2>Build</h2>
          ${kv([
            ['Project', projectName],
            ['Platforms', b.platforms.join(', ') || 'default'],
            ['Queued', b.queued_at],
            ['Builder acquired', b.acquired_at],
            ['Finished', b.finished_at],
            ['Duration', b.finished_at ? formatDuration(ms(b.queued_at, b.finished_at)) : null],
            ['Steps', ins.steps_total ? `cached ${ins.steps_cached} of ${ins.steps_total}` : null],
            ['Time saved', ins.time_saved_ms ? formatDuration(ins.time_saved_ms) : null],
            ['Steps and logs', ins.steps_pruned_at ? `removed by retention at ${ins.steps_pruned_at}` : null],
          ])}
          <div class="phases">
            ${phaseBar(ins.phases, 300)}${
              ins.phases
                ? html`<ul class="legend">
                    ${PHASES.filter(([k]) => ins.phases![k] !== undefined).map(
                      ([k, label]) =>
                        html`<li>
                          <span class="sw ph-${k.replace('_ms', '')}"></span>${label}
                          ${formatDuration(ins.phases![k] ?? null)}
                        </li>`,
                    )}
                  </ul>`
                : ''
            }
          </div>
        </div>
        <div class="card">
          <h2>Source</h2>
          ${kv([
            ['From', ins.context?.source ?? null],
            ['Repository', g.repository],
            ['Repository id', g.repository_id],
            ['Ref', g.ref],
            ['Commit', g.sha],
            ['Workflow', g.workflow],
            ['Job', g.job],
            ['Actor', g.actor],
            [
              'Run',
              run
                ? html`<a href="${run}" rel="noopener noreferrer"
                    >${g.run_id ?? 'run'}${g.run_attempt ? ` (attempt ${g.run_attempt})` : ''}</a
                  >`
                : g.run_id,
            ],
            [
              'Created by',
              ins.created_by
                ? `${ins.created_by.kind} token ${ins.created_by.name} (${ins.created_by.id})`
                : null,
            ],
          ])}
        </div>
        <div class="card trust">
          <h2>Trust</h2>
          ${
            ins.trust
              ? html`${kv([['Policy', ins.trust.policy_id]])}
                  <table class="claims">
                    <thead>
                      <tr>
                        <th>Claim</th>
                        <th>Value</th>
                      </tr>
                    </thead>
                    <tbody>
                      ${Object.entries(ins.trust.claims)
                        .filter(([, v]) => v !== null && v !== undefined)
                        .map(
                          ([k, v]) =>
                            html`<tr>
                              <td>${k}</td>
                              <td class="mono">${typeof v === 'string' ? v : JSON.stringify(v)}</td>
                            </tr>`,
                        )}
                    </tbody>
                  </table>`
              : html`<p class="muted">
                  Created with a ${ins.created_by?.kind ?? 'Hoist'} token, not through a GitHub OIDC trust
                  policy.
                </p>`
          }
        </div>
      </section>
      <section>
        <h2>Steps</h2>
        ${
          brk
            ? html`<p class="cachebreak">
                The cache broke at <strong>${brk.step}</strong> (${brk.platform})${
                  brk.previous_build_id
                    ? html`, compared with the previous build of this ref,
                        <a href="/ui/builds/${brk.previous_build_id}">${brk.previous_build_id}</a>`
                    : ', the first build of this ref'
                }.
              </p>`
            : ins.steps.length
              ? html`<p class="cachebreak">
                  ${ins.steps_live ? 'No step has missed the cache so far.' : 'Every step was cached.'}
                </p>`
              : ''
        }
        ${failed.length ? html`<p class="error">Failed at <strong>${failed[0]!.name}</strong>.</p>` : ''}
        ${
          ins.steps_live && ins.steps.length
            ? live
              ? html`<p class="muted livesteps">
                  Steps so far, sent while the build runs; this page follows them.
                </p>`
              : html`<p class="muted livesteps">
                  The build ended before it sent its full set of steps: these are the ones it sent while it
                  ran.
                </p>`
            : ''
        }
        ${
          platforms.length
            ? platforms.map(
                (p) =>
                  html`<h3>${p}</h3>
                    ${waterfall(
                      ins.steps.filter((s) => s.platform === p),
                      breakStep && breakStep.platform === p ? breakStep.digest : null,
                      new Set(ins.critical_path?.[p] ?? []),
                      420,
                      open,
                    )}`,
              )
            : html`<p class="muted">No steps recorded${live ? ' yet' : ''}.</p>`
        }
      </section>
      ${
        ins.warnings.length && !ins.dockerfile?.contents
          ? html`<section>
              <h2>Build checks</h2>
              <ul>
                ${ins.warnings.map((w) => html`<li>${w.line ? `line ${w.line}: ` : ''}${w.message}</li>`)}
              </ul>
            </section>`
          : ''
      }
      ${
        ins.dockerfile
          ? html`<section>
              <h2>Dockerfile</h2>
              <p class="mono muted">
                ${ins.dockerfile.path} · sha256
                ${ins.dockerfile.sha256.slice(0, 12)}${
                  ins.warnings.length
                    ? ` · ${ins.warnings.length} build-check warning${ins.warnings.length > 1 ? 's' : ''}`
                    : ''
                }
              </p>
              ${ins.dockerfile.contents !== null ? dockerfileView(ins.dockerfile.contents, ins.warnings) : html`<p class="muted">Contents not sent.</p>`}
            </section>`
          : ''
      }`,
    { csrf, live },
  );
}
