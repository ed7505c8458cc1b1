// The projects list and a project's page (settings, tokens, trust policies with a claims
// preview, refusals) as pure functions of their data. Every form posts its session's CSRF token.
import type { AuditEvent, Project, TokenInfo, TrustPolicy } from '../../lib/api-types.js';
import type { Preview } from './forms.js';
import { Html, html } from './html.js';
import { layout } from './pages.js';

export interface ProjectSummary {
  project: Project;
  builds: number;
  active: number;
  last_build_at: string | null;
}

const csrfField = (csrf: string): Html => html`<input type="hidden" name="csrf" value="${csrf}" />`;

export function projectsPage(rows: ProjectSummary[], csrf: string): string {
  return layout(
    'Projects',
    html`<h1>Projects</h1>
      <table class="projects">
        <thead>
          <tr>
            <th>Project</th>
            <th>Id</th>
            <th class="num">Builds</th>
            <th class="num">Active</th>
            <th>Last build</th>
            <th>Builds per builder</th>
            <th>Autoscaling</th>
          </tr>
        </thead>
        <tbody>
          ${
            rows.length
              ? rows.map(
                  (r) =>
                    html`<tr data-project="${r.project.id}">
                      <td><a href="/ui/projects/${r.project.id}">${r.project.name}</a></td>
                      <td class="mono">${r.project.id}</td>
                      <td class="num">${r.builds}</td>
                      <td class="num">${r.active}</td>
                      <td>${r.last_build_at ?? html`<span class="muted">never</span>`}</td>
                      <td>${r.project.max_concurrent_builds ?? 'unlimited'}</td>
                      <td>
                        ${r.project.autoscaling ? `on, up to ${r.project.max_builders_per_platform} per platform` : 'off'}
                      </td>
                    </tr>`,
                )
              : html`<tr>
                  <td colspan="6" class="muted">
                    No projects yet: create one with hoist projects create NAME.
                  </td>
                </tr>`
          }
        </tbody>
      </table>`,
    { csrf },
  );
}

export interface RecentClaims {
  event_id: string;
  at: string;
  outcome: string;
  label: string;
}

export interface ProjectPageData {
  project: Project;
  tokens: TokenInfo[];
  policies: TrustPolicy[];
  refusals: AuditEvent[];
  recentClaims: RecentClaims[];
  /** Shown once, right after it was created. */
  newToken?: { id: string; name: string; token: string };
  notice?: string;
  error?: { form: 'settings' | 'token' | 'policy' | 'preview'; message: string };
  preview?: Preview;
  /** What the preview form showed last (the pasted claims, or the picked event's). */
  claimsText?: string;
  /** The form values to show again after an error. */
  values?: Record<string, string>;
}

const errorFor = (d: ProjectPageData, form: NonNullable<ProjectPageData['error']>['form']): Html =>
  d.error?.form === form ? html`<p class="error" role="alert">${d.error.message}</p>` : html``;

function tokenState(t: TokenInfo, now: string): Html {
  if (t.revoked_at) return html`<span class="badge st-failed">revoked ${t.revoked_at}</span>`;
  if (t.expires_at && t.expires_at <= now) return html`<span class="badge st-canceled">expired</span>`;
  return html`<span class="badge st-success">active</span>`;
}

function policyCells(p: TrustPolicy): Html {
  return html`<td class="mono">${p.repository}</td>
    <td>${p.refs.length ? p.refs.join(', ') : html`<span class="muted">any ref</span>`}</td>
    <td>${p.environment ?? html`<span class="muted">any</span>`}</td>
    <td>${p.workflow ?? html`<span class="muted">any</span>`}</td>
    <td class="mono">
      ${p.repository_id ? `repo ${p.repository_id}` : html`<span class="muted">pins on first use</span>`}
      ${p.repository_owner_id ? ` · owner ${p.repository_owner_id}` : ''}
    </td>
    <td>${p.allow_pull_request_target ? 'pull_request_target allowed' : ''}</td>`;
}

function previewView(pv: Preview): Html {
  return html`<div class="preview ${pv.granted ? 'granted' : 'refused'}" id="preview-result">
    <p class="${pv.granted ? 'ok' : 'error'}">
      <strong>${pv.granted ? 'Granted' : 'Refused'}</strong>: ${pv.reason}
    </p>
    ${
      pv.missing.length
        ? html`<p class="muted">
            Claims missing from the input (matched as empty): ${pv.missing.join(', ')}
          </p>`
        : ''
    }
    <table class="verdicts">
      <thead>
        <tr>
          <th>Policy</th>
          <th>Result</th>
          <th>Why</th>
        </tr>
      </thead>
      <tbody>
        ${pv.policies.map(
          (v) =>
            html`<tr data-policy="${v.policy.id}" class="${v.allows ? 'allows' : 'refuses'}">
              <td class="mono">
                ${v.policy.id}${v.policy.id === pv.policy_id ? html` <span class="badge st-success">chosen</span>` : ''}
              </td>
              <td>${v.allows ? 'allows' : 'refuses'}</td>
              <td>${v.why}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

export function projectPage(d: ProjectPageData, csrf: string, now: string): string {
  const p = d.project;
  const v = (k: string, dflt = ''): string => d.values?.[k] ?? dflt;
  const active = d.tokens.filter((t) => !t.revoked_at);
  return layout(
    `Project ${p.name}`,
    html`<h1>Project ${p.name} <span class="mono muted">${p.id}</span></h1>
      <p>
        <a href="/ui/builds?project=${encodeURIComponent(p.name)}">Builds</a> ·
        <a href="/ui/charts?project=${encodeURIComponent(p.name)}">Charts</a>
      </p>
      ${d.notice ? html`<p class="notice" role="status">${d.notice}</p>` : ''}
      <section class="card" id="settings">
        <h2>Settings</h2>
        ${errorFor(d, 'settings')}
        <form method="post" action="/ui/projects/${p.id}/settings" class="settings">
          ${csrfField(csrf)}
          <label
            >Builds per builder
            <input
              name="max_concurrent_builds"
              inputmode="numeric"
              value="${v('max_concurrent_builds', p.max_concurrent_builds === null ? '' : String(p.max_concurrent_builds))}"
              placeholder="unlimited"
          /></label>
          <label class="check"
            ><input
              type="checkbox"
              name="autoscaling"
              ${(d.values ? d.values.autoscaling === 'on' : p.autoscaling) ? html` checked` : ''}
            />
            Autoscaling</label
          >
          <label
            >Most builders per platform
            <input
              name="max_builders_per_platform"
              inputmode="numeric"
              value="${v('max_builders_per_platform', String(p.max_builders_per_platform))}"
          /></label>
          <button type="submit">Save settings</button>
        </form>
        <p class="muted">
          Builds per builder: blank means unlimited (BuildKit shares the steps concurrent builds have in
          common). With autoscaling on, a platform whose builders are full gets another builder, started from
          a clone of the primary's cache, up to the most builders per platform (the primary included);
          autoscaling needs a number of builds per builder.
        </p>
      </section>

      <section class="card" id="tokens">
        <h2>Tokens</h2>
        ${
          d.newToken
            ? html`<div class="newtoken" role="status">
                <p>
                  Token <strong>${d.newToken.name}</strong> (<span class="mono">${d.newToken.id}</span>) was
                  created. Copy it now: it is shown only this once.
                </p>
                <input class="mono" id="new-token" readonly value="${d.newToken.token}" size="60" />
              </div>`
            : ''
        }
        <table class="tokens">
          <thead>
            <tr>
              <th>Name</th>
              <th>Id</th>
              <th>Created</th>
              <th>Expires</th>
              <th>Last used</th>
              <th>State</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            ${
              d.tokens.length
                ? d.tokens.map(
                    (t) =>
                      html`<tr data-token="${t.id}">
                        <td>${t.name}</td>
                        <td class="mono">${t.id}</td>
                        <td>${t.created_at}</td>
                        <td>${t.expires_at ?? html`<span class="muted">never</span>`}</td>
                        <td>${t.last_used_at ?? html`<span class="muted">never</span>`}</td>
                        <td>${tokenState(t, now)}</td>
                        <td>
                          ${
                            t.revoked_at
                              ? ''
                              : html`<form method="post" action="/ui/projects/${p.id}/tokens/${t.id}/revoke">
                                  ${csrfField(csrf)}<button type="submit" class="danger">Revoke</button>
                                </form>`
                          }
                        </td>
                      </tr>`,
                  )
                : html`<tr>
                    <td colspan="7" class="muted">No project tokens.</td>
                  </tr>`
            }
          </tbody>
        </table>
        <p class="muted">${active.length} not revoked. Revoking ends the builds a token started.</p>
        ${errorFor(d, 'token')}
        <form method="post" action="/ui/projects/${p.id}/tokens" class="inline">
          ${csrfField(csrf)}
          <label>Name <input name="name" value="${v('name')}" maxlength="200" required /></label>
          <label
            >Expires in (days)
            <input
              name="expires_days"
              value="${v('expires_days')}"
              inputmode="numeric"
              placeholder="server default"
          /></label>
          <button type="submit">Create token</button>
        </form>
      </section>

      <section class="card" id="trust">
        <h2>Trust policies</h2>
        <table class="policies">
          <thead>
            <tr>
              <th>Id</th>
              <th>Repository</th>
              <th>Refs</th>
              <th>Environment</th>
              <th>Workflow</th>
              <th>Pinned ids</th>
              <th></th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            ${
              d.policies.length
                ? d.policies.map(
                    (pol) =>
                      html`<tr data-policy="${pol.id}">
                        <td class="mono">${pol.id}</td>
                        ${policyCells(pol)}
                        <td>
                          <form method="post" action="/ui/projects/${p.id}/trust-policies/${pol.id}/delete">
                            ${csrfField(csrf)}<button type="submit" class="danger">Remove</button>
                          </form>
                        </td>
                      </tr>`,
                  )
                : html`<tr>
                    <td colspan="8" class="muted">
                      No trust policies: GitHub workflows cannot exchange their ID tokens for this project.
                    </td>
                  </tr>`
            }
          </tbody>
        </table>
        ${errorFor(d, 'policy')}
        <form method="post" action="/ui/projects/${p.id}/trust-policies" class="inline">
          ${csrfField(csrf)}
          <label
            >Repository <input name="repository" value="${v('repository')}" placeholder="owner/name" required
          /></label>
          <label
            >Refs <input name="refs" value="${v('refs')}" placeholder="refs/heads/main refs/tags/v*"
          /></label>
          <label>Environment <input name="environment" value="${v('environment')}" /></label>
          <label>Workflow <input name="workflow" value="${v('workflow')}" placeholder="release.yml" /></label>
          <label class="check"
            ><input
              type="checkbox"
              name="allow_pull_request_target"
              ${v('allow_pull_request_target') === 'on' ? html` checked` : ''}
            />
            allow pull_request_target</label
          >
          <button type="submit">Add policy</button>
        </form>

        <h3>Claims preview</h3>
        <p class="muted">
          Paste the claims of a GitHub ID token, or pick claims a recent exchange presented, and see which
          policy matches and why. Nothing is granted or recorded.
        </p>
        ${errorFor(d, 'preview')}
        <form method="post" action="/ui/projects/${p.id}/preview" class="preview-form">
          ${csrfField(csrf)}
          <label
            >Recent claims
            <select name="event">
              <option value="">— paste below —</option>
              ${d.recentClaims.map(
                (c) => html`<option value="${c.event_id}">${c.at} · ${c.outcome} · ${c.label}</option>`,
              )}
            </select></label
          >
          <label
            >Claims (JSON)
            <textarea
              name="claims"
              rows="7"
              cols="80"
              class="mono"
              placeholder='{"repository":"acme/app","ref":"refs/heads/main","event_name":"push","job_workflow_ref":"acme/app/.github/workflows/ci.yml@refs/heads/main"}'
            >
${d.claimsText ?? ''}</textarea>
          </label>
          <button type="submit">Preview</button>
        </form>
        ${d.preview ? previewView(d.preview) : ''}
      </section>

      <section class="card" id="refusals">
        <h2>Refusals</h2>
        <table class="refusals">
          <thead>
            <tr>
              <th>At</th>
              <th>Action</th>
              <th>Subject</th>
              <th>Reason</th>
              <th class="num">Count</th>
            </tr>
          </thead>
          <tbody>
            ${
              d.refusals.length
                ? d.refusals.map(
                    (e) =>
                      html`<tr data-event="${e.id}">
                        <td>${e.at}</td>
                        <td class="mono">${e.action}</td>
                        <td class="mono">${e.subject ?? ''}</td>
                        <td>${e.reason}</td>
                        <td class="num">${typeof e.details.count === 'number' ? e.details.count : 1}</td>
                      </tr>`,
                  )
                : html`<tr>
                    <td colspan="5" class="muted">Nothing was refused for this project.</td>
                  </tr>`
            }
          </tbody>
        </table>
      </section>`,
    { csrf },
  );
}
