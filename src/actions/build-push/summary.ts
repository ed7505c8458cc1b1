import type { Inputs } from './inputs.js';
import { splitSecret } from './args.js';

export interface StepCounts {
  cached: number;
  total: number;
}

// A Dockerfile step as BuildKit names it: "[2/3] RUN …", "[builder 1/4] FROM …",
// "[linux/amd64 stage 2/3] COPY …". Internal vertices ("[internal] load …",
// metadata lookups, exporters) are not steps.
const STEP_NAME = /^\[(?:[^\]]*\s)?\d+\/\d+\]\s/;

/**
 * Counts cached Dockerfile steps from buildx's progress output: the plain
 * format (`#5 [2/3] RUN …` … `#5 CACHED`), which buildx prints when its output
 * is not a terminal, or the rawjson format. Undefined when nothing was found.
 */
export function countCachedSteps(progress: string): StepCounts | undefined {
  const names = new Map<string, string>();
  const cached = new Set<string>();
  for (const line of progress.split(/\r?\n/)) {
    const plain = /^#(\d+) (.*)$/.exec(line);
    if (plain) {
      const [, id, text] = plain as unknown as [string, string, string];
      if (!names.has(id)) names.set(id, text.trim());
      if (text.trim() === 'CACHED') cached.add(id);
      continue;
    }
    if (line.startsWith('{') && line.includes('"vertexes"')) {
      try {
        const status = JSON.parse(line) as {
          vertexes?: { digest?: string; name?: string; cached?: boolean }[];
        };
        for (const v of status.vertexes ?? []) {
          if (!v.digest) continue;
          if (v.name && !names.has(v.digest)) names.set(v.digest, v.name);
          if (v.cached) cached.add(v.digest);
        }
      } catch {
        // not a progress line
      }
    }
  }
  let total = 0;
  let cachedSteps = 0;
  for (const [id, name] of names) {
    if (!STEP_NAME.test(name)) continue;
    total++;
    if (cached.has(id)) cachedSteps++;
  }
  return total > 0 ? { cached: cachedSteps, total } : undefined;
}

/**
 * The inputs shown in the summary, as docker shows them: unset, empty and
 * false values left out, tokens left out, and secrets reduced to their keys.
 */
export function summaryInputs(inputs: Inputs): Record<string, string | string[] | boolean> {
  const out: Record<string, string | string[] | boolean> = {};
  for (const [key, value] of Object.entries(inputs) as [string, string | string[] | boolean][]) {
    if (key === 'github-token' || key === 'token') continue;
    if (value === false || value === '' || (Array.isArray(value) && value.length === 0)) continue;
    if (key === 'secrets' && Array.isArray(value)) {
      const keys = value.map((s) => splitSecret(s)?.[0]).filter((k): k is string => Boolean(k));
      if (keys.length > 0) out[key] = keys;
      continue;
    }
    out[key] = value;
  }
  return out;
}

export interface SummaryData {
  builder: 'hoist' | 'buildx';
  /** A sentence on where the build ran. */
  where: string;
  ok: boolean;
  platforms: string[];
  durationMs: number;
  steps: StepCounts | undefined;
  tags: string[];
  digest: string | undefined;
  imageId: string | undefined;
  buildUrl: string | undefined;
  buildId: string | undefined;
  inputs: Record<string, string | string[] | boolean>;
  /** What the `fallback-cache` input made this build import and export, when it is set. */
  cache?: string;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m ${Math.round(s - m * 60)}s`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The job summary as Markdown (GitHub renders HTML inside it too). */
export function renderSummary(d: SummaryData): string {
  const code = (s: string): string => `<code>${escapeHtml(s)}</code>`;
  const rows: [string, string][] = [
    ['Status', d.ok ? ':white_check_mark: success' : ':x: failed'],
    ['Built on', escapeHtml(d.where)],
    [
      'Platforms',
      d.platforms.length ? d.platforms.map(code).join(', ') : 'default (the builder’s native platform)',
    ],
    ['Duration', formatDuration(d.durationMs)],
    [
      'Cached steps',
      d.steps ? `${d.steps.cached} of ${d.steps.total}` : 'unknown (no build progress parsed)',
    ],
    ['Tags', d.tags.length ? d.tags.map(code).join('<br>') : 'none'],
    ['Digest', d.digest ? code(d.digest) : 'none'],
  ];
  if (d.cache) rows.push(['Fallback cache', escapeHtml(d.cache)]);
  if (d.imageId && d.imageId !== d.digest) rows.push(['Image ID', code(d.imageId)]);
  if (d.buildId)
    rows.push([
      'Hoist build',
      d.buildUrl ? `<a href="${escapeHtml(d.buildUrl)}">${escapeHtml(d.buildId)}</a>` : code(d.buildId),
    ]);
  else if (d.buildUrl)
    rows.push(['Build', `<a href="${escapeHtml(d.buildUrl)}">${escapeHtml(d.buildUrl)}</a>`]);
  const table = [
    '<table>',
    ...rows.map(([k, v]) => `<tr><th align="left">${k}</th><td>${v}</td></tr>`),
    '</table>',
  ].join('\n');
  const inputs = JSON.stringify(d.inputs, null, 2);
  // A fence longer than any backtick run in the inputs, so no input can close it early and
  // have the rest of its text read as Markdown or HTML.
  const longestRun = Math.max(0, ...(inputs.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(Math.max(3, longestRun + 1));
  return [
    '## Hoist build summary',
    '',
    table,
    '',
    '<details><summary><strong>Build inputs</strong></summary>',
    '',
    `${fence}json`,
    inputs,
    fence,
    '',
    '</details>',
    '',
  ].join('\n');
}
