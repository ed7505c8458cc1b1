// `hoist builds show`: the step summary and where the cache broke, from the build's insights.
import type { BuildInfo, BuildStep } from '../lib/api-types.js';
import { escapeControls } from '../lib/text.js';
import { renderTable } from './flags.js';

const duration = (s: BuildStep): string => {
  if (!s.started_at || !s.completed_at) return '';
  const ms = Date.parse(s.completed_at) - Date.parse(s.started_at);
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
};

/** The insights part of `hoist builds show` (empty when the build has none). Pure. */
export function renderStepSummary(b: BuildInfo): string {
  const ins = b.insights;
  if (!ins) return '';
  const out: string[] = [];
  const g = ins.context?.github;
  if (g?.repository) {
    out.push(
      `source: ${escapeControls(`${ins.context!.source} ${g.repository} ${g.ref ?? ''} ${g.sha?.slice(0, 12) ?? ''}`.trim())}${g.run_url ? `\nrun: ${escapeControls(g.run_url)}` : ''}\n`,
    );
  }
  if (ins.trust) out.push(`trust policy: ${escapeControls(ins.trust.policy_id ?? '-')}\n`);
  if (ins.steps.length === 0) return out.join('');
  const active = b.status === 'queued' || b.status === 'running';
  out.push(
    `steps: cached ${ins.steps_cached} of ${ins.steps_total}${
      ins.steps_live ? (active ? ' (so far: the build is running)' : ' (only those sent while it ran)') : ''
    }\n`,
  );
  const at = (s: BuildStep): number => (s.started_at ? Date.parse(s.started_at) : Number.MAX_SAFE_INTEGER);
  const brk = ins.cache_break;
  const rows = [...ins.steps]
    .filter((s) => s.instruction !== null || s.error)
    .sort((a, b) => a.platform.localeCompare(b.platform) || at(a) - at(b))
    .map((s) => [
      s.platform,
      s.error
        ? 'ERROR'
        : s.started_at && !s.completed_at
          ? active
            ? 'RUNNING'
            : 'NOT DONE'
          : s.cached
            ? 'CACHED'
            : brk && brk.platform === s.platform && brk.step === s.name
              ? 'BROKE'
              : 'ran',
      duration(s),
      s.name,
    ]);
  out.push(renderTable(['PLATFORM', 'CACHE', 'TIME', 'STEP'], rows));
  if (brk) {
    out.push(
      `cache broke at: ${escapeControls(brk.step)} (${escapeControls(brk.platform)})${brk.previous_build_id ? `, compared with ${escapeControls(brk.previous_build_id)}` : ''}\n`,
    );
  } else {
    out.push(ins.steps_live ? 'cache: no step missed it so far\n' : 'cache: every step cached\n');
  }
  const failed = ins.steps.find((s) => s.error);
  if (failed) {
    const tail = failed.log_tail.split('\n').slice(-10).join('\n');
    out.push(
      `failed: ${escapeControls(failed.name)}: ${escapeControls(failed.error!)}\n${escapeControls(tail)}\n`,
    );
  }
  for (const w of ins.warnings) {
    out.push(`warning: ${w.line ? `line ${w.line}: ` : ''}${escapeControls(w.message.split('\n')[0]!)}\n`);
  }
  return out.join('');
}
