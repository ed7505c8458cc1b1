// The job summary of a bake: the run, then one row per target. Pure (rendering and counting).
import { countCachedSteps, formatDuration, type StepCounts } from '../build-push/summary.js';
import type { BakeSource } from './args.js';
import type { Inputs } from './inputs.js';

/**
 * Cached steps per target from buildx's plain progress. With more than one target buildx names
 * each step after its target ("#7 [app base 2/2] RUN …"); a step two targets share is reported
 * once, under the first. With one target nothing is prefixed and every step is its own.
 */
export function cachedStepsByTarget(
  progress: string,
  targets: string[],
): Record<string, StepCounts | undefined> {
  const out: Record<string, StepCounts | undefined> = {};
  if (targets.length === 1) {
    out[targets[0]!] = countCachedSteps(progress);
    return out;
  }
  const owner = new Map<string, string>();
  const lines = progress.split(/\r?\n/);
  for (const line of lines) {
    const m = /^#(\d+) \[([^\s\]]+)[\s\]]/.exec(line);
    if (m && !owner.has(m[1]!) && targets.includes(m[2]!)) owner.set(m[1]!, m[2]!);
  }
  for (const t of targets) {
    const own = lines.filter((l) => {
      const id = /^#(\d+) /.exec(l)?.[1];
      return id !== undefined && owner.get(id) === t;
    });
    // "[app base 2/2] RUN …" still reads as a step: the target is one more word in the brackets
    out[t] = countCachedSteps(own.join('\n'));
  }
  return out;
}

/**
 * The inputs shown in the summary, as docker/bake-action shows them: the source first (the
 * remote definition or the directory), then every other set input; empty and false values,
 * the GitHub token and the Hoist token left out.
 */
export function summaryInputs(
  inputs: Inputs,
  source: BakeSource,
): Record<string, string | string[] | boolean> {
  const out: Record<string, string | string[] | boolean> = {};
  const where = source.remoteRef || source.workdir;
  if (where) out.source = where;
  for (const [key, value] of Object.entries(inputs) as [string, string | string[] | boolean][]) {
    if (key === 'source' || key === 'github-token' || key === 'token') continue;
    if (value === false || value === '' || (Array.isArray(value) && value.length === 0)) continue;
    out[key] = value;
  }
  return out;
}

export interface TargetSummary {
  name: string;
  platforms: string[];
  tags: string[];
  digest: string | undefined;
  steps: StepCounts | undefined;
}

export interface BakeSummaryData {
  builder: 'hoist' | 'buildx';
  where: string;
  ok: boolean;
  durationMs: number;
  targets: TargetSummary[];
  buildId: string | undefined;
  buildUrl: string | undefined;
  inputs: Record<string, string | string[] | boolean>;
  /** The definition as buildx printed it, shown folded. */
  definition: unknown;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A fenced block whose fence is longer than any backtick run inside, so nothing can close it early. */
function fenced(lang: string, text: string): string[] {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return [`${fence}${lang}`, text, fence];
}

/** The job summary as Markdown (GitHub renders HTML inside it too). */
export function renderBakeSummary(d: BakeSummaryData): string {
  const code = (s: string): string => `<code>${escapeHtml(s)}</code>`;
  const rows: [string, string][] = [
    ['Status', d.ok ? ':white_check_mark: success' : ':x: failed'],
    ['Built on', escapeHtml(d.where)],
    ['Duration', formatDuration(d.durationMs)],
    ['Targets', String(d.targets.length)],
  ];
  if (d.buildId) {
    rows.push([
      'Hoist build',
      d.buildUrl ? `<a href="${escapeHtml(d.buildUrl)}">${escapeHtml(d.buildId)}</a>` : code(d.buildId),
    ]);
  }
  const run = [
    '<table>',
    ...rows.map(([k, v]) => `<tr><th align="left">${k}</th><td>${v}</td></tr>`),
    '</table>',
  ];
  const head = ['Target', 'Platforms', 'Tags', 'Digest', 'Cached steps'];
  const targets = [
    '<table>',
    `<tr>${head.map((h) => `<th align="left">${h}</th>`).join('')}</tr>`,
    ...d.targets.map((t) => {
      const cells = [
        code(t.name),
        t.platforms.length ? t.platforms.map(code).join(', ') : 'default',
        t.tags.length ? t.tags.map(code).join('<br>') : 'none',
        t.digest ? code(t.digest) : 'none',
        t.steps ? `${t.steps.cached} of ${t.steps.total}` : 'unknown',
      ];
      return `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
    }),
    '</table>',
  ];
  return [
    '## Hoist bake summary',
    '',
    ...run,
    '',
    ...targets,
    '',
    '<details><summary><strong>Bake inputs</strong></summary>',
    '',
    ...fenced('json', JSON.stringify(d.inputs, null, 2)),
    '',
    '</details>',
    '',
    '<details><summary><strong>Bake definition</strong></summary>',
    '',
    ...fenced('json', JSON.stringify(d.definition, null, 2)),
    '',
    '</details>',
    '',
  ].join('\n');
}
