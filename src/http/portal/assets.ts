/**
 * The portal's only style sheet and script, served by Tongfu itself (`/assets/…`): no fonts,
 * scripts or styles from anywhere else, which the pages' Content-Security-Policy enforces. Fonts
 * are the reader's own: the stack names the CJK faces of Windows, macOS, Android and Debian
 * (fonts-wqy-microhei, fonts-noto-cjk).
 *
 * Colours meet WCAG 2.1 AA against their backgrounds (contrast ratios in the comments).
 */
import crypto from 'node:crypto';

export const PORTAL_CSS = `
:root {
  --ink: #1b1b1b;        /* 16.9:1 on white */
  --muted: #4b4b4b;      /* 8.6:1 on white */
  --line: #767676;       /* 4.5:1: borders of inputs are UI components (3:1 needed) */
  --soft: #f3f5f8;
  --brand: #0b4f8a;      /* 8.4:1 on white; white on it 8.4:1 */
  --brand-dark: #073a66;
  --ok: #1a6b2d;         /* 6.6:1 on white */
  --ok-bg: #e8f4ec;
  --bad: #a4161a;        /* 7.4:1 on white */
  --bad-bg: #fdecec;
  --warn: #7a4d00;       /* 7.2:1 on white */
  --warn-bg: #fff4de;
  --focus: #ffbf47;
}
*, *::before, *::after { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; color: var(--ink); background: #fff;
  font-family: "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", system-ui, sans-serif;
  font-size: 1rem; line-height: 1.6;
}
a { color: var(--brand); text-underline-offset: 0.15em; }
a:hover { color: var(--brand-dark); }
:focus-visible { outline: 3px solid var(--ink); outline-offset: 2px; box-shadow: 0 0 0 6px var(--focus); }
.skip { position: absolute; left: -999px; top: 0; background: var(--focus); color: var(--ink); padding: 0.5rem 1rem; z-index: 10; }
.skip:focus { left: 0.5rem; }
.site { background: var(--brand); color: #fff; }
.site .bar { max-width: 46rem; margin: 0 auto; padding: 0.75rem 1rem; display: flex; align-items: baseline; gap: 0.75rem; flex-wrap: wrap; }
.site a { color: #fff; text-decoration: none; font-weight: 700; font-size: 1.15rem; }
.site .sub { font-size: 0.9rem; }
main { max-width: 46rem; margin: 0 auto; padding: 1rem 1rem 2.5rem; }
h1 { font-size: 1.5rem; line-height: 1.3; margin: 0.75rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 0.5rem; }
p { margin: 0.5rem 0; }
.lead { color: var(--muted); }
footer { max-width: 46rem; margin: 0 auto; padding: 1rem; color: var(--muted); font-size: 0.875rem; border-top: 1px solid #d0d0d0; }

/* forms */
.field { margin: 1.25rem 0; }
label { display: block; font-weight: 700; margin-bottom: 0.25rem; }
.hint { display: block; color: var(--muted); font-size: 0.9rem; margin-bottom: 0.35rem; }
input[type=text] {
  width: 100%; font: inherit; font-size: 1.15rem; padding: 0.6rem 0.75rem; min-height: 3rem;
  border: 2px solid var(--line); border-radius: 4px; color: var(--ink); background: #fff;
}
input.code { letter-spacing: 0.06em; font-variant-numeric: tabular-nums; }
input[aria-invalid=true] { border-color: var(--bad); border-width: 3px; }
.error { color: var(--bad); font-weight: 700; margin: 0.35rem 0 0; }
.error:empty { display: none; }
.error-summary { border: 3px solid var(--bad); padding: 0.75rem 1rem; margin: 1rem 0; background: var(--bad-bg); }
.error-summary h2 { margin-top: 0; color: var(--bad); }
.button, button {
  display: inline-block; font: inherit; font-weight: 700; font-size: 1.1rem; line-height: 1.3;
  padding: 0.75rem 1.25rem; min-height: 3rem; border-radius: 4px; border: 2px solid var(--brand);
  background: var(--brand); color: #fff; cursor: pointer; text-decoration: none; text-align: center;
}
.button:hover, button:hover { background: var(--brand-dark); color: #fff; }
.button.secondary, button.secondary { background: #fff; color: var(--brand); }
.button.secondary:hover, button.secondary:hover { background: var(--soft); color: var(--brand-dark); }
button.danger { background: #fff; color: var(--bad); border-color: var(--bad); }
.actions { display: flex; flex-wrap: wrap; gap: 0.75rem; margin: 1.25rem 0; }
.actions > * { flex: 1 1 12rem; }

/* notice */
.status { display: inline-block; font-weight: 700; padding: 0.15rem 0.6rem; border-radius: 999px; border: 2px solid currentColor; }
.status.unpaid { color: var(--warn); background: var(--warn-bg); }
.status.paid { color: var(--ok); background: var(--ok-bg); }
.status.closed { color: var(--muted); background: var(--soft); }
.panel { border: 1px solid #c9ced6; border-radius: 6px; padding: 0.75rem 1rem; margin: 1rem 0; background: #fff; }
.panel > h2:first-child { margin-top: 0; }
.panel ul { padding-left: 1.25rem; margin: 0.25rem 0; }
.panel.note { background: var(--soft); border-color: var(--soft); }
.panel.warn { background: var(--warn-bg); border-color: #e0c48a; }
.panel.ok { background: var(--ok-bg); border-color: #9ccaa8; }
.panel.bad { background: var(--bad-bg); border-color: #e4a3a5; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.35rem 1rem; margin: 0.5rem 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
table { width: 100%; border-collapse: collapse; margin: 0.5rem 0; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 700; padding: 0.25rem 0; }
th, td { text-align: left; padding: 0.5rem 0.4rem; border-bottom: 1px solid #d6d9de; vertical-align: top; }
th { font-size: 0.9rem; color: var(--muted); font-weight: 700; }
td.num, th.num { text-align: right; white-space: nowrap; }
tfoot td, tfoot th { border-bottom: none; font-weight: 700; color: var(--ink); font-size: 1rem; vertical-align: baseline; }
.rule { display: block; color: var(--muted); font-size: 0.875rem; }
.due { font-size: 1.1rem; }
.due strong { font-size: 1.6rem; font-variant-numeric: tabular-nums; }
.code-text { font-variant-numeric: tabular-nums; letter-spacing: 0.04em; white-space: nowrap; }
.agencies { list-style: none; padding: 0; margin: 0.5rem 0; display: grid; gap: 0.75rem; }
.agency { display: flex; align-items: center; gap: 0.75rem; border: 2px solid var(--brand); border-radius: 6px; padding: 0.75rem; text-decoration: none; color: var(--ink); min-height: 3.5rem; }
.agency:hover { background: var(--soft); color: var(--ink); }
.agency .logo { flex: 0 0 auto; width: 2.75rem; height: 2.75rem; border-radius: 6px; background: var(--brand); color: #fff; display: flex; align-items: center; justify-content: center; font-weight: 700; font-size: 0.95rem; }
.agency .name { font-weight: 700; }
.agency .go { margin-left: auto; color: var(--brand); font-weight: 700; white-space: nowrap; }

/* receipt */
.receipt { border: 2px solid #8a1c1c; padding: 1rem; margin: 1rem 0; }
.receipt h1 { text-align: center; color: #8a1c1c; font-size: 1.3rem; margin: 0 0 0.25rem; letter-spacing: 0.05em; }
.receipt .subtitle { text-align: center; color: var(--muted); margin: 0 0 0.75rem; font-size: 0.9rem; }
.receipt .head { display: flex; gap: 1rem; align-items: flex-start; justify-content: space-between; flex-wrap: wrap; }
.receipt .head dl { flex: 1 1 16rem; }
.qr { flex: 0 0 auto; text-align: center; font-size: 0.75rem; color: var(--muted); }
.qr svg { width: 7.5rem; height: 7.5rem; display: block; }
.verify { display: flex; gap: 0.5rem; align-items: baseline; flex-wrap: wrap; }
.verify .mark { font-weight: 700; font-size: 1.1rem; }
.verify.ok .mark { color: var(--ok); }
.verify.bad .mark { color: var(--bad); }
.print-only { display: none; }
.amount-words { font-size: 0.9rem; }

@media (min-width: 40rem) {
  h1 { font-size: 1.75rem; }
  .agencies { grid-template-columns: 1fr 1fr; }
}

@page { size: A5 portrait; margin: 8mm; }
@media print {
  body { font-size: 9pt; line-height: 1.35; }
  .site, footer, .no-print, .skip { display: none !important; }
  .print-only { display: block; }
  main { max-width: none; padding: 0; }
  .receipt { border-width: 1.5pt; padding: 4mm; margin: 0; }
  .receipt h1 { font-size: 13pt; }
  th, td { padding: 1.2mm 1mm; }
  .qr svg { width: 26mm; height: 26mm; }
  .panel { margin: 2mm 0; padding: 2mm 3mm; }
  a { color: var(--ink); text-decoration: none; }
  h2 { font-size: 10pt; margin: 3mm 0 1mm; }
}
`;

export const PORTAL_JS = `
(function () {
  'use strict';
  // The check of docs/payment-code.md: 20 digits whose value mod 97 is 1, reduced digit by digit.
  function mod97(digits) {
    var r = 0;
    for (var i = 0; i < digits.length; i += 1) r = (r * 10 + (digits.charCodeAt(i) - 48)) % 97;
    return r;
  }
  // The server's rule (src/domain/payCodeInput.ts): NFKC (full-width digits and hyphens become
  // ASCII), then white space and hyphens go.
  function normalize(raw) {
    var text = typeof raw.normalize === 'function' ? raw.normalize('NFKC')
      : raw.replace(/[\\uFF10-\\uFF19]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) - 0xFF10 + 48); });
    return text.replace(/[\\s\\u3000-]+/g, '');
  }
  function payCodeError(raw) {
    var code = normalize(raw);
    if (code === '') return '请输入缴款码。';
    if (!/^[0-9]{20}$/.test(code)) return '缴款码是 20 位数字，请对照缴款通知书核对。';
    if (mod97(code) !== 1) return '缴款码校验位不符：有数字输错或前后颠倒，请逐位核对。';
    return '';
  }
  function nameError(raw) {
    return raw.replace(/\\s+/g, '') === '' ? '请输入缴款人姓名。' : '';
  }
  function show(input, message) {
    var error = document.getElementById(input.id + '-error');
    var hint = input.id + '-hint';
    error.textContent = message;
    if (message) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', hint + ' ' + error.id);
    } else {
      input.removeAttribute('aria-invalid');
      input.setAttribute('aria-describedby', hint);
    }
  }
  var form = document.getElementById('lookup-form');
  if (form) {
    var code = document.getElementById('payCode');
    var name = document.getElementById('payerName');
    code.addEventListener('blur', function () {
      var digits = normalize(code.value);
      if (/^[0-9]{20}$/.test(digits)) code.value = digits.replace(/(.{4})(?=.)/g, '$1 ');
    });
    form.addEventListener('submit', function (event) {
      var codeMessage = payCodeError(code.value);
      var nameMessage = nameError(name.value);
      show(code, codeMessage);
      show(name, nameMessage);
      if (codeMessage || nameMessage) {
        event.preventDefault();
        (codeMessage ? code : name).focus();
      }
    });
  }
  // A page that comes back with problems takes the reader to the list of them first.
  var summary = document.getElementById('error-summary');
  if (summary) summary.focus();
  var printButton = document.getElementById('print');
  if (printButton) {
    printButton.hidden = false;
    printButton.addEventListener('click', function () { window.print(); });
  }
})();
`;

/** A short content hash for cache-busting URLs: `/assets/portal.css?v=…`. */
export function assetVersion(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex').slice(0, 12);
}

export const PORTAL_CSS_VERSION = assetVersion(PORTAL_CSS);
export const PORTAL_JS_VERSION = assetVersion(PORTAL_JS);
