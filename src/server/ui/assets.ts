// The dashboard's only script and stylesheet, served from the server bundle (no CDN, no
// build step): the CSP allows scripts and styles from 'self' and nothing inline.

/**
 * Live updates: the builds list re-fetches its rows on each server-sent event; a running build's
 * page re-fetches itself and swaps its main part (the steps so far arrive in batches while the
 * build runs), at most every 300 ms, until the build has ended.
 */
export const APP_JS = `'use strict';
(function () {
  var rows = document.getElementById('builds-rows');
  var live = document.body.getAttribute('data-live');
  if (!rows && !live) return;
  var timer = null;
  function refreshRows() {
    if (timer) return;
    timer = setTimeout(function () {
      timer = null;
      fetch('/ui/builds/rows' + location.search, { credentials: 'same-origin' }).then(function (r) {
        if (r.ok) return r.text().then(function (t) { rows.innerHTML = t; });
      }).catch(function () {});
    }, 200);
  }
  function refreshBuild() {
    if (timer) return;
    timer = setTimeout(function () {
      timer = null;
      fetch(location.pathname, { credentials: 'same-origin' }).then(function (r) {
        if (r.ok) return r.text().then(function (t) {
          var doc = new DOMParser().parseFromString(t, 'text/html');
          var main = doc.querySelector('main');
          if (!main) return;
          document.querySelector('main').replaceWith(document.adoptNode(main));
          live = doc.body.getAttribute('data-live');
          if (live) document.body.setAttribute('data-live', live);
          else document.body.removeAttribute('data-live');
        });
      }).catch(function () {});
    }, 300);
  }
  var es = new EventSource('/ui/events');
  es.addEventListener('build', function (e) {
    if (rows) refreshRows();
    else if (live && e.data === live) refreshBuild();
  });
  // changes made through another replica, or by the server's own sweep (an expired build)
  setInterval(function () {
    if (rows) refreshRows();
    else if (live) refreshBuild();
  }, 15000);
})();
`;

export const APP_CSS = `:root{--fg:#1b1f24;--muted:#667085;--bg:#fff;--line:#e4e7ec;--ok:#12b76a;--bad:#d92d20;--run:#2e90fa;--warn:#f79009;--cached:#98a2b3}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:var(--fg);background:var(--bg)}
.top{display:flex;gap:1.5rem;align-items:center;padding:.6rem 1.2rem;border-bottom:1px solid var(--line)}
.brand{font-weight:700;text-decoration:none;color:inherit}.top nav a{margin-right:1rem}.logout{margin-left:auto}
main{padding:1rem 1.2rem;max-width:1400px}h1{font-size:1.35rem}h2{font-size:1.05rem}
a{color:#175cd3}.muted{color:var(--muted)}.mono,code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
.error{color:var(--bad)}table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:.85rem}.num{text-align:right;white-space:nowrap}
.badge{display:inline-block;padding:0 .45rem;border-radius:9px;font-size:.8rem;background:#f2f4f7}
.st-success{background:#d1fadf;color:#05603a}.st-failed,.st-expired{background:#fee4e2;color:#912018}.st-running{background:#d1e9ff;color:#194185}
.st-queued{background:#fef0c7;color:#93370d}.st-canceled{background:#f2f4f7}.badge.cached{background:#f2f4f7;color:var(--muted)}.badge.break{background:#fef0c7;color:#93370d}
.filters{display:flex;gap:.8rem;flex-wrap:wrap;align-items:end;margin-bottom:1rem}.filters label{display:flex;flex-direction:column;font-size:.8rem;color:var(--muted)}
input,select,button{font:inherit;padding:.3rem .5rem}.login{display:flex;flex-direction:column;gap:.5rem;max-width:28rem}
.phasebar rect.ph-queued,.sw.ph-queued{fill:var(--warn);background:var(--warn)}.phasebar rect.ph-setup,.sw.ph-setup{fill:#7a5af8;background:#7a5af8}
.phasebar rect.ph-build,.sw.ph-build{fill:var(--run);background:var(--run)}.phasebar rect.ph-cleanup,.sw.ph-cleanup{fill:var(--cached);background:var(--cached)}
.legend{list-style:none;padding:0;display:flex;gap:1rem;font-size:.85rem}.sw{display:inline-block;width:.7rem;height:.7rem;margin-right:.3rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:1rem}.card{border:1px solid var(--line);border-radius:8px;padding:.6rem .9rem}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:.2rem .8rem;margin:0}.kv dt{color:var(--muted)}.kv dd{margin:0;word-break:break-all}
.waterfall rect.cached{fill:var(--cached)}.waterfall rect.running{fill:var(--run);opacity:.55}.waterfall rect.open{fill:#fee4e2;stroke:var(--bad);stroke-dasharray:3 2}
.badge.notdone{background:#fee4e2;color:#912018}.waterfall rect.run{fill:var(--run)}.waterfall rect.err{fill:var(--bad)}
.waterfall tr.break td{background:#fffaeb}.waterfall tr.failed td{background:#fef3f2}.stepname{word-break:break-all;max-width:36rem}
.log{max-height:24rem;overflow:auto;background:#101828;color:#f2f4f7;padding:.6rem;white-space:pre-wrap;word-break:break-all}
.dockerfile{font-size:.9rem;background:#f9fafb;border:1px solid var(--line);padding:.5rem .5rem .5rem 3rem}.dockerfile li{white-space:pre-wrap}
.dockerfile li.warned{background:#fffaeb}.warning{color:#93370d;font-family:system-ui,sans-serif;font-size:.85rem;padding:.1rem 0}
.cachebreak{background:#fffaeb;border-left:3px solid var(--warn);padding:.4rem .7rem}
section.card{margin-bottom:1rem}form.inline,form.settings,form.preview-form{display:flex;gap:.8rem;flex-wrap:wrap;align-items:end;margin:.5rem 0}
form.inline label,form.settings label,form.preview-form label{display:flex;flex-direction:column;font-size:.8rem;color:var(--muted)}
form.inline label.check,form.settings label.check{flex-direction:row;gap:.3rem;align-items:center}button.danger{color:var(--bad)}
.notice,.ok{color:#05603a}.newtoken{background:#ecfdf3;border:1px solid #abefc6;padding:.5rem .8rem;margin-bottom:.6rem}
.preview{border-left:3px solid var(--line);padding:.3rem .8rem}.preview.granted{border-color:var(--ok)}.preview.refused{border-color:var(--bad)}
tr.allows td{background:#ecfdf3}
.waterfall rect.crit{stroke:#101828;stroke-width:1.5}.badge.crit{background:#101828;color:#fff}.waterfall tr.critical td.stepname{font-weight:600}
svg.cachebar rect.limit{fill:#f2f4f7;stroke:var(--line)}.k-layers{fill:#2e90fa;background:#2e90fa}.k-cache_mounts{fill:#7a5af8;background:#7a5af8}
.k-source{fill:#12b76a;background:#12b76a}.k-other{fill:#98a2b3;background:#98a2b3}.cachekinds{display:flex;gap:.6rem;flex-wrap:wrap;font-size:.8rem}
.lasterror{color:var(--bad);max-width:20rem;word-break:break-word}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(640px,1fr));gap:1rem}figure.chart{margin:0;border:1px solid var(--line);border-radius:8px;padding:.5rem}
figure.chart figcaption{font-weight:600}.chart line.grid{stroke:var(--line)}.chart text.tick{font-size:10px;fill:var(--muted)}
.chart path.line{fill:none;stroke-width:2}.s-p50{stroke:#2e90fa;fill:#2e90fa;background:#2e90fa}.s-p95{stroke:#f79009;fill:#f79009;background:#f79009}
.s-hit{stroke:#12b76a;fill:#12b76a;background:#12b76a}.s-saved{stroke:#7a5af8;fill:#7a5af8;background:#7a5af8}.chart path.line.s-p50,.chart path.line.s-p95,.chart path.line.s-hit,.chart path.line.s-saved{fill:none}
`;
