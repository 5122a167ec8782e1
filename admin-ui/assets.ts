// The admin pages' only stylesheet and script, served by the worker itself (no CDN, no fonts):
// the Content-Security-Policy allows nothing else.

export const ADMIN_CSS = `
:root{--bg:#f6f7f9;--card:#fff;--fg:#1b1f24;--muted:#5c6670;--line:#dde1e6;--accent:#2457d6;--accent-fg:#fff;
--ok:#137a3a;--ok-bg:#e3f5ea;--warn:#8a5a00;--warn-bg:#fff3d6;--bad:#b3261e;--bad-bg:#fde7e5;--chip:#eef1f5;
--bar:#2457d6;--bar2:#d2452f;--grid:#e6e9ee;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--card:#1a1e24;--fg:#e6e9ee;--muted:#9aa4ae;--line:#2d333b;
--accent:#6d9bff;--accent-fg:#0d1117;--ok:#5fd38d;--ok-bg:#12301f;--warn:#f0c050;--warn-bg:#332708;--bad:#ff8a80;
--bad-bg:#3a1512;--chip:#242a31;--bar:#6d9bff;--bar2:#ff7a66;--grid:#262c33}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
a{color:var(--accent)}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
header.top{background:var(--card);border-bottom:1px solid var(--line);position:sticky;top:0;z-index:5}
.top-inner{max-width:1200px;margin:0 auto;padding:.5rem 1rem;display:flex;align-items:center;gap:.5rem 1rem;flex-wrap:wrap}
.top-inner form{margin-left:auto}
.brand{font-weight:700;text-decoration:none;color:var(--fg);white-space:nowrap}
nav.main{display:flex;gap:.25rem;overflow-x:auto;flex:1;scrollbar-width:none}
nav.main a{padding:.4rem .7rem;border-radius:6px;text-decoration:none;color:var(--muted);white-space:nowrap}
nav.main a[aria-current=page]{background:var(--chip);color:var(--fg);font-weight:600}
nav.main a:hover{color:var(--fg)}
main{max-width:1200px;margin:0 auto;padding:1rem}
h1{font-size:1.45rem;margin:.4rem 0 1rem}
h2{font-size:1.1rem;margin:0 0 .75rem}
h3{font-size:.95rem;margin:1rem 0 .5rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1rem;margin-bottom:1rem;min-width:0}
.grid{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,300px),1fr))}
.grid.charts{grid-template-columns:repeat(auto-fit,minmax(min(100%,440px),1fr))}
.grid .card{margin-bottom:0}
.stats{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));margin-bottom:1rem}
.stat{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:.8rem 1rem}
.stat .label{color:var(--muted);font-size:.85rem}
.stat .value{font-size:1.5rem;font-weight:650;font-variant-numeric:tabular-nums}
.row{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap}
.spread{display:flex;justify-content:space-between;align-items:center;gap:.75rem;flex-wrap:wrap;margin-bottom:.75rem}
.spread h1,.spread h2{margin:0}
.muted{color:var(--muted)}
.small{font-size:.85rem}
.table-wrap{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:.5rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;color:var(--muted);font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right}
th[scope=row]{text-transform:none;letter-spacing:0;font-size:inherit;color:var(--fg)}
td .sub{display:block;color:var(--muted);font-size:.82rem}
.wrap-any{overflow-wrap:break-word}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:999px;font-size:.78rem;font-weight:600;background:var(--chip);white-space:nowrap}
.badge.active,.badge.ok{background:var(--ok-bg);color:var(--ok)}
.badge.expired,.badge.inactive,.badge.warn{background:var(--warn-bg);color:var(--warn)}
.badge.revoked,.badge.error{background:var(--bad-bg);color:var(--bad)}
.btn,button{display:inline-flex;align-items:center;gap:.35rem;font:inherit;font-weight:600;padding:.45rem .9rem;border-radius:7px;
border:1px solid var(--line);background:var(--card);color:var(--fg);cursor:pointer;text-decoration:none;min-height:2.25rem}
.btn.primary,button.primary{background:var(--accent);border-color:var(--accent);color:var(--accent-fg)}
.btn.danger,button.danger{background:var(--bad);border-color:var(--bad);color:#fff}
.btn.small,button.small{padding:.2rem .55rem;min-height:1.8rem;font-size:.85rem}
.btn:hover,button:hover{filter:brightness(1.07)}
form.inline{display:inline-flex;margin:0}
label{display:block;font-weight:600;margin-bottom:.25rem}
.field{margin-bottom:.9rem;min-width:0}
.field .hint{color:var(--muted);font-size:.82rem;font-weight:400;margin-top:.2rem}
.field .err{color:var(--bad);font-size:.85rem;margin-top:.2rem}
input,select,textarea{font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--line);border-radius:7px;padding:.45rem .6rem;width:100%;max-width:100%}
input:focus,select:focus,textarea:focus,button:focus-visible,.btn:focus-visible,a:focus-visible{outline:2px solid var(--accent);outline-offset:1px}
input[aria-invalid=true],textarea[aria-invalid=true]{border-color:var(--bad)}
input[type=checkbox]{width:auto}
label.check{display:flex;gap:.5rem;align-items:baseline;font-weight:400;margin-bottom:.5rem}
textarea{min-height:5rem;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
.form-grid{display:grid;gap:0 1rem;grid-template-columns:repeat(auto-fit,minmax(220px,1fr))}
fieldset{border:1px solid var(--line);border-radius:8px;padding:.75rem 1rem .25rem;margin:0 0 1rem;min-width:0}
legend{font-weight:600;padding:0 .3rem}
.filters{display:flex;gap:.6rem;flex-wrap:wrap;align-items:flex-end;margin-bottom:1rem}
.filters .field{margin:0;flex:1 1 150px}
.filters .field.grow{flex:2 1 220px}
.alert{border-radius:8px;padding:.7rem 1rem;margin-bottom:1rem;border:1px solid}
.alert.error{background:var(--bad-bg);color:var(--bad);border-color:var(--bad)}
.alert.ok{background:var(--ok-bg);color:var(--ok);border-color:var(--ok)}
.alert.warn{background:var(--warn-bg);color:var(--warn);border-color:var(--warn)}
.secret{display:flex;gap:.5rem;align-items:flex-start;flex-wrap:wrap}
.secret pre{flex:1 1 280px;margin:0}
.secret code{flex:1 1 280px;align-self:stretch;padding:.6rem .7rem;background:var(--bg);border:1px dashed var(--accent);border-radius:7px;overflow-wrap:anywhere;font-size:1rem}
pre{background:var(--bg);border:1px solid var(--line);border-radius:7px;padding:.7rem;overflow-x:auto;margin:.4rem 0}
dl.props{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:0}
dl.props dt{color:var(--muted)}
dl.props dd{margin:0;overflow-wrap:anywhere}
.chart{margin:0}
.chart svg{width:100%;height:auto;display:block}
.chart .bar{fill:var(--bar)}
.chart .bar.alt{fill:var(--bar2)}
.chart .gridline{stroke:var(--grid);stroke-width:1}
.chart text{fill:var(--muted);font-size:11px;font-family:system-ui,sans-serif}
.chart .empty{fill:var(--muted);font-size:13px}
.tabs{display:inline-flex;border:1px solid var(--line);border-radius:8px;overflow:hidden}
.tabs a{padding:.35rem .8rem;text-decoration:none;color:var(--muted)}
.tabs a[aria-current=true]{background:var(--accent);color:var(--accent-fg)}
.login{max-width:380px;margin:12vh auto}
.empty-state{color:var(--muted);text-align:center;padding:1.5rem .5rem}
.pager{margin-top:.75rem;display:flex;justify-content:flex-end}
ul.plain{list-style:none;padding:0;margin:0}
ul.plain li{padding:.35rem 0;border-bottom:1px solid var(--line);display:flex;justify-content:space-between;gap:.75rem}
ul.plain li:last-child{border-bottom:0}
.top-gap{margin-top:1rem}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:640px){main{padding:.6rem}nav.main{order:3;flex-basis:100%}.top-inner{padding:.4rem .6rem}.card{padding:.8rem}h1{font-size:1.25rem}
.hide-sm{display:none}th,td{padding:.45rem .4rem}.stat .value{font-size:1.25rem}}
`;

// Progressive enhancement only: every page works without it (copy falls back to selecting the text).
export const ADMIN_JS = `
(function(){
  function copyText(text, btn){
    function done(ok){ var old = btn.getAttribute("data-label") || btn.textContent; btn.setAttribute("data-label", old);
      btn.textContent = ok ? "Copied" : "Press Ctrl+C"; setTimeout(function(){ btn.textContent = old; }, 1800); }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function(){ done(true); }, function(){ done(fallback(text)); });
    } else { done(fallback(text)); }
  }
  function fallback(text){
    var ta = document.createElement("textarea"); ta.value = text; ta.setAttribute("readonly", "");
    ta.className = "sr-only"; document.body.appendChild(ta); ta.select();
    var ok = false; try { ok = document.execCommand("copy"); } catch (e) {}
    document.body.removeChild(ta); return ok;
  }
  document.addEventListener("click", function(ev){
    var btn = ev.target.closest && ev.target.closest("[data-copy]");
    if (!btn) return;
    var src = document.getElementById(btn.getAttribute("data-copy"));
    if (src) { ev.preventDefault(); copyText(src.textContent.trim(), btn); }
  });
  document.addEventListener("click", function(ev){
    var btn = ev.target.closest && ev.target.closest("[data-download]");
    if (!btn) return;
    var src = document.getElementById(btn.getAttribute("data-download"));
    if (!src) return;
    var url = URL.createObjectURL(new Blob([src.textContent.trim() + "\\n"], { type: "text/csv" }));
    var a = document.createElement("a"); a.href = url; a.download = btn.getAttribute("data-filename") || "tokens.csv";
    document.body.appendChild(a); a.click(); document.body.removeChild(a);
    setTimeout(function(){ URL.revokeObjectURL(url); }, 1000);
  });
  document.addEventListener("submit", function(ev){
    var msg = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });
})();
`;

/** Changes whenever the assets change, so they can be cached for long under a versioned URL. */
export const ASSET_VERSION = (() => {
  let h = 0x811c9dc5;
  const text = ADMIN_CSS + ADMIN_JS;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(36);
})();
