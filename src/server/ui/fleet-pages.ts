// The builders page and the charts page as pure functions of their data. Charts are SVG drawn
// on the server (no front-end stack, nothing inline for the CSP to refuse).
import type { ChartPoint } from '../insights/analysis.js';
import type { CacheSnapshot } from '../insights/cache.js';
import type { BuilderView, QueueView } from '../insights/index.js';

export type { BuilderView, QueueView };
import { Html, html } from './html.js';
import { formatDuration, layout } from './pages.js';

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

const KINDS = [
  ['layers_bytes', 'layers'],
  ['cache_mounts_bytes', 'cache mounts'],
  ['source_bytes', 'source contexts'],
  ['other_bytes', 'other'],
] as const;

/** A stacked bar of the cache by kind against the GC limit (the bar's full width). */
export function cacheBar(c: CacheSnapshot, width = 220): Html {
  const total = KINDS.reduce((n, [k]) => n + c[k], 0);
  const scale = Math.max(c.gc_limit_bytes ?? 0, total, 1);
  let x = 0;
  return html`<svg
    class="cachebar"
    width="${width}"
    height="12"
    viewBox="0 0 ${width} 12"
    role="img"
    aria-label="cache by kind against the GC limit"
  >
    <rect class="limit" x="0" y="0" width="${width}" height="12"></rect>
    ${KINDS.map(([k, label]) => {
      const w = (c[k] / scale) * width;
      const r = html`<rect
        class="k-${k.replace('_bytes', '')}"
        x="${x.toFixed(1)}"
        y="1"
        width="${w.toFixed(1)}"
        height="10"
        ><title>${label}: ${formatBytes(c[k])}</title></rect
      >`;
      x += w;
      return r;
    })}
  </svg>`;
}

export function buildersPage(builders: BuilderView[], queues: QueueView[], csrf: string, now: Date): string {
  const running = builders.filter((b) => b.state === 'running');
  return layout(
    'Builders',
    html`<h1>Builders</h1>
      <p class="muted">
        ${running.length} running of ${builders.length}; ${builders.filter((b) => b.role === 'clone').length}
        clones; ${builders.reduce((n, b) => n + b.in_use, 0)} build platforms on builders;
        ${queues.reduce((n, q) => n + q.waiting, 0)} waiting.
      </p>
      <table class="builders">
        <thead>
          <tr>
            <th>Builder</th>
            <th>Project</th>
            <th>Platform</th>
            <th>Role</th>
            <th>State</th>
            <th>Uptime</th>
            <th class="num">Restarts</th>
            <th>In use</th>
            <th>Cache against GC limit</th>
            <th>Filesystem</th>
            <th>Last error</th>
          </tr>
        </thead>
        <tbody>
          ${
            builders.length
              ? builders.map((b) => {
                  const c = b.cache;
                  return html`<tr data-builder="${b.id}" data-state="${b.state}">
                    <td class="mono">${b.id}</td>
                    <td><a href="/ui/projects/${b.project_id}">${b.project_name}</a></td>
                    <td>${b.platform}</td>
                    <td>${b.role}</td>
                    <td>
                      <span
                        class="badge st-${b.state === 'running' ? 'success' : b.state === 'failed' ? 'failed' : 'canceled'}"
                        >${b.state}</span
                      >
                    </td>
                    <td>
                      ${b.state === 'running' && b.started_at ? formatDuration(now.getTime() - Date.parse(b.started_at)) : '—'}
                    </td>
                    <td class="num">
                      ${b.restarts}${b.launch_failures ? html` <span class="muted">(${b.launch_failures} failed launches)</span>` : ''}
                    </td>
                    <td class="inuse">${b.in_use} of ${b.limit ?? 'unlimited'}</td>
                    <td class="cache">
                      ${
                        c
                          ? html`${cacheBar(c)}
                              <div class="cachekinds">
                                ${KINDS.map(([k, label]) => html`<span class="kind"><span class="sw k-${k.replace('_bytes', '')}"></span>${label} ${formatBytes(c[k])}</span>`)}
                              </div>
                              <div class="muted">
                                ${formatBytes(c.layers_bytes + c.cache_mounts_bytes + c.source_bytes + c.other_bytes)}
                                of ${formatBytes(c.gc_limit_bytes)} GC limit · reclaimable
                                ${formatBytes(c.reclaimable_bytes)} · ${c.records} records · at ${c.at}
                                (${c.reason})
                              </div>`
                          : html`<span class="muted">no snapshot yet</span>`
                      }
                    </td>
                    <td>
                      ${c && c.fs_total_bytes ? `${formatBytes(c.fs_used_bytes)} of ${formatBytes(c.fs_total_bytes)}` : '—'}
                    </td>
                    <td class="lasterror">${b.last_error ?? ''}</td>
                  </tr>`;
                })
              : html`<tr>
                  <td colspan="11" class="muted">
                    No builders yet: one starts with a project's first build.
                  </td>
                </tr>`
          }
        </tbody>
      </table>
      <h2>Queue</h2>
      <table class="queue">
        <thead>
          <tr>
            <th>Project</th>
            <th>Platform</th>
            <th class="num">Waiting</th>
            <th>Oldest since</th>
          </tr>
        </thead>
        <tbody>
          ${
            queues.length
              ? queues.map(
                  (q) =>
                    html`<tr>
                      <td>${q.project_name}</td>
                      <td>${q.platform}</td>
                      <td class="num">${q.waiting}</td>
                      <td>${q.oldest ?? ''}</td>
                    </tr>`,
                )
              : html`<tr>
                  <td colspan="4" class="muted">No build is waiting for a builder.</td>
                </tr>`
          }
        </tbody>
      </table>`,
    { csrf },
  );
}

interface Series {
  label: string;
  cls: string;
  values: (number | null)[];
}

/** A line chart of one or more series over the buckets, with a y axis in `fmt` units. */
export function lineChart(
  title: string,
  points: ChartPoint[],
  series: Series[],
  fmt: (v: number) => string,
  opts: { max?: number; width?: number; height?: number } = {},
): Html {
  const W = opts.width ?? 640;
  const H = opts.height ?? 180;
  const L = 64;
  const B = 22;
  const plotW = W - L - 8;
  const plotH = H - B - 8;
  const all = series.flatMap((s) => s.values).filter((v): v is number => v !== null);
  const max = opts.max ?? Math.max(1, ...all);
  const x = (i: number): number => L + (points.length <= 1 ? plotW / 2 : (i / (points.length - 1)) * plotW);
  const y = (v: number): number => 8 + plotH - (v / max) * plotH;
  const ticks = [0, 0.5, 1].map((f) => f * max);
  const labelEvery = Math.max(1, Math.ceil(points.length / 6));
  return html`<figure class="chart" data-chart="${title}">
    <figcaption>${title}</figcaption>
    <svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${title}">
      ${ticks.map(
        (t) =>
          html`<line
              class="grid"
              x1="${L}"
              x2="${W - 8}"
              y1="${y(t).toFixed(1)}"
              y2="${y(t).toFixed(1)}"
            ></line>
            <text class="tick" x="${L - 4}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`,
      )}
      ${points.map((p, i) =>
        i % labelEvery === 0
          ? html`<text class="tick" x="${x(i).toFixed(1)}" y="${H - 6}" text-anchor="middle"
              >${p.at.slice(5, p.at.endsWith('T00:00:00.000Z') ? 10 : 13).replace('T', ' ')}</text
            >`
          : '',
      )}
      ${series.map((s) => {
        // a gap where a bucket had no builds
        const segs: string[] = [];
        let cur = '';
        s.values.forEach((v, i) => {
          if (v === null) {
            if (cur) segs.push(cur);
            cur = '';
            return;
          }
          cur += `${cur ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
        });
        if (cur) segs.push(cur);
        return html`<path class="line ${s.cls}" d="${segs.join(' ')}"></path> ${s.values.map((v, i) =>
            v === null
              ? ''
              : html`<circle class="dot ${s.cls}" cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2.5"
                  ><title>${s.label} ${points[i]!.at}: ${fmt(v)} (${points[i]!.builds} builds)</title></circle
                >`,
          )}`;
      })}
    </svg>
    <ul class="legend">
      ${series.map((s) => html`<li><span class="sw ${s.cls}"></span>${s.label}</li>`)}
    </ul>
  </figure>`;
}

export function chartsPage(opts: {
  points: ChartPoint[];
  projects: string[];
  project: string | null;
  range: string;
  ranges: string[];
  csrf: string;
}): string {
  const { points } = opts;
  const builds = points.reduce((n, p) => n + p.builds, 0);
  const saved = points.reduce((n, p) => n + p.saved_ms, 0);
  const pct = (v: number): string => `${Math.round(v * 100)} %`;
  return layout(
    'Charts',
    html`<h1>Charts${opts.project ? html` · ${opts.project}` : ''}</h1>
      <form method="get" action="/ui/charts" class="filters">
        <label
          >Project
          <select name="project">
            <option value="">all projects</option>
            ${opts.projects.map((p) => html`<option value="${p}" ${p === opts.project ? html` selected` : ''}>${p}</option>`)}
          </select></label
        >
        <label
          >Range
          <select name="range">
            ${opts.ranges.map((r) => html`<option value="${r}" ${r === opts.range ? html` selected` : ''}>last ${r}</option>`)}
          </select></label
        >
        <button type="submit">Show</button>
      </form>
      <p class="summary">
        <span id="chart-builds">${builds}</span> finished builds; time saved by the cache
        <strong id="chart-saved">${formatDuration(saved)}</strong>.
      </p>
      ${
        builds
          ? html`<div class="charts">
              ${lineChart(
                'Build duration',
                points,
                [
                  { label: 'p50', cls: 's-p50', values: points.map((p) => p.p50_ms) },
                  { label: 'p95', cls: 's-p95', values: points.map((p) => p.p95_ms) },
                ],
                formatDuration,
              )}
              ${lineChart(
                'Cache hit ratio',
                points,
                [{ label: 'cached steps / steps', cls: 's-hit', values: points.map((p) => p.hit_ratio) }],
                pct,
                { max: 1 },
              )}
              ${lineChart(
                'Queue wait',
                points,
                [
                  { label: 'p50', cls: 's-p50', values: points.map((p) => p.queue_p50_ms) },
                  { label: 'p95', cls: 's-p95', values: points.map((p) => p.queue_p95_ms) },
                ],
                formatDuration,
              )}
              ${lineChart(
                'Time saved',
                points,
                [
                  {
                    label: 'saved by cached steps',
                    cls: 's-saved',
                    values: points.map((p) => (p.builds ? p.saved_ms : null)),
                  },
                ],
                formatDuration,
              )}
            </div>`
          : html`<p class="muted">No finished builds in this range.</p>`
      }`,
    { csrf: opts.csrf },
  );
}
