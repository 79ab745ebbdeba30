/**
 * The payer portal's pages (contracts/decisions/0080), in zh-CN, rendered on the server: every
 * page works without JavaScript; the script only checks the payment code before sending it and
 * offers a print button. Every value goes through `html`, which escapes it.
 */
import type { Decimal as DecimalJs } from 'decimal.js';
import { formatInstant } from '../../domain/businessDate';
import { lateFeeRuleText, lateFeeTerm } from '../../domain/lateFeeText';
import { formatMoney } from '../../domain/money';
import { amountInWords } from '../../domain/moneyWords';
import { groupPayCode } from '../../domain/payCodeInput';
import type { NoticeStatus } from '../../domain/stateMachines';
import type { PortalAgency, PortalNotice, PortalReceipt } from '../../services/portal';
import type { ReceiptContent } from '../../services/receipts';
import { PORTAL_CSS_VERSION, PORTAL_JS_VERSION } from './assets';
import { html, SafeHtml, trustedHtml } from './html';

export const SITE_NAME = '通付 · 非税收入网上缴费';

/** Money as the page shows it: "218.00 元". */
export function yuan(amount: DecimalJs | string): string {
  return `${typeof amount === 'string' ? amount : formatMoney(amount)} 元`;
}

/** An instant in Beijing time as people write it: "2026-12-01 21:03:05". */
export function beijingTime(at: Date | string): string {
  const iso = typeof at === 'string' ? at : formatInstant(at);
  return iso.slice(0, 19).replace('T', ' ');
}

export function layout(title: string, body: SafeHtml, options: { wide?: boolean } = {}): string {
  return html`<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · ${SITE_NAME}</title>
<link rel="stylesheet" href="/assets/portal.css?v=${PORTAL_CSS_VERSION}">
<script src="/assets/portal.js?v=${PORTAL_JS_VERSION}" defer></script>
</head>
<body${options.wide ? trustedHtml(' class="wide"') : ''}>
<a class="skip" href="#main">跳到主要内容</a>
<header class="site"><div class="bar"><a href="/pay">通付</a><span class="sub">内蒙古自治区非税收入网上缴费</span></div></header>
<main id="main">
${body}
</main>
<footer><p>缴费遇到问题，请联系开具缴款通知书的执收单位。本站不会以任何方式索取您的银行卡密码或验证码。</p></footer>
</body>
</html>`.value;
}

// ---- the lookup form --------------------------------------------------------------------------

export interface LookupForm {
  payCode: string;
  payerName: string;
  errors: { payCode?: string; payerName?: string };
  /** A problem that is not one field's: not found, too many lookups. */
  formError?: string;
}

function field(id: 'payCode' | 'payerName', label: string, hint: SafeHtml | string, value: string, error: string | undefined, extra: SafeHtml): SafeHtml {
  const describedBy = error ? `${id}-hint ${id}-error` : `${id}-hint`;
  return html`<div class="field">
<label for="${id}">${label}</label>
<span class="hint" id="${id}-hint">${hint}</span>
<input type="text" id="${id}" name="${id}" value="${value}" aria-describedby="${describedBy}"${error ? trustedHtml(' aria-invalid="true"') : ''} ${extra}>
<p class="error" id="${id}-error" aria-live="polite">${error ?? ''}</p>
</div>`;
}

export function lookupPage(form: LookupForm): string {
  const problems: Array<[string, string]> = [];
  if (form.errors.payCode) problems.push(['payCode', form.errors.payCode]);
  if (form.errors.payerName) problems.push(['payerName', form.errors.payerName]);
  const summary =
    problems.length > 0 || form.formError
      ? html`<div class="error-summary" role="alert" tabindex="-1" id="error-summary">
<h2>请检查以下内容</h2>
${form.formError ? html`<p>${form.formError}</p>` : ''}
${problems.length > 0 ? html`<ul>${problems.map(([id, message]) => html`<li><a href="#${id}">${message}</a></li>`)}</ul>` : ''}
</div>`
      : '';
  return layout(
    '查询缴款通知书',
    html`<h1>缴纳非税收入</h1>
<p class="lead">输入缴款通知书上的 20 位缴款码和缴款人姓名，查看应缴金额并在线缴纳。</p>
${summary}
<form id="lookup-form" method="post" action="/pay" novalidate>
${field('payCode', '缴款码', html`20 位数字，在缴款通知书右上角；可带空格，如 <span class="code-text">1501 0226 1000 0000 0103</span>`, form.payCode, form.errors.payCode, trustedHtml('inputmode="numeric" autocomplete="off" spellcheck="false" class="code" maxlength="40"'))}
${field('payerName', '缴款人姓名', '与缴款通知书上的姓名或单位名称一致', form.payerName, form.errors.payerName, trustedHtml('autocomplete="name" maxlength="100"'))}
<div class="actions"><button type="submit">查询</button></div>
</form>
<div class="panel note">
<h2>说明</h2>
<ul>
<li>为保护您的信息，查询需同时提供缴款码和姓名；姓名只显示最后一个字。</li>
<li>同一缴款码多次查询失败后会暂时停止查询，请稍后再试。</li>
<li>缴款后可随时回到本页，用同样的缴款码和姓名查看电子票据。</li>
</ul>
</div>`,
  );
}

// ---- the notice -------------------------------------------------------------------------------

const STATUS_TEXT: Record<NoticeStatus, { label: string; tone: 'unpaid' | 'paid' | 'closed' }> = {
  ISSUED: { label: '未缴', tone: 'unpaid' },
  PAID: { label: '已缴', tone: 'paid' },
  VOIDED: { label: '已作废', tone: 'closed' },
  EXPIRED: { label: '已过期', tone: 'closed' },
  PARTIALLY_REFUNDED: { label: '已缴（部分退款）', tone: 'paid' },
  REFUNDED: { label: '已缴（已全额退款）', tone: 'closed' },
};

/** What the payer sees as the status: an ISSUED notice that can no longer be paid shows as expired. */
function shownStatus(notice: PortalNotice): { label: string; tone: string } {
  if (notice.status === 'ISSUED' && !notice.payable) return STATUS_TEXT.EXPIRED;
  return STATUS_TEXT[notice.status];
}

function receiptHref(receipt: { receiptNo: string; checkCode: string }): string {
  return `/receipts/${receipt.receiptNo}?checkCode=${receipt.checkCode}`;
}

function whatNext(notice: PortalNotice, agencies: PortalAgency[]): SafeHtml {
  const term = notice.lateFeeTerm;
  if (notice.status === 'ISSUED' && notice.payable) {
    // Late: what it costs today, and whether waiting costs more (a fee at its cap, or no rule at all, does not grow).
    const lateText = notice.lateFeeGrows
      ? html`今日应缴金额已含${term} ${yuan(notice.lateFee)}，每多逾期一天还会增加，请尽快缴纳。`
      : notice.lateFee.isZero()
        ? html`该通知书逾期不加收任何费用，请尽快缴纳。`
        : html`今日应缴金额已含${term} ${yuan(notice.lateFee)}，已达上限，不再增加。请尽快缴纳。`;
    const late =
      notice.daysLate > 0
        ? html`<div class="panel warn"><p><strong>已逾期 ${notice.daysLate} 天。</strong>${lateText}</p></div>`
        : notice.lines.some((line) => line.lateFeeRule.type !== 'NONE')
          ? html`<p>请在 <strong>${notice.dueDate}</strong> 当日或之前缴纳；逾期将按上表所列规则计收${term}。</p>`
          : html`<p>请在 <strong>${notice.dueDate}</strong> 当日或之前缴纳。</p>`;
    const list =
      agencies.length === 0
        ? html`<p>目前没有可在线缴费的代收机构。您可以持缴款通知书到银行柜台缴纳。</p>`
        : html`<p>选择一家代收机构，将跳转到该机构的支付页面；支付完成后会回到本站显示电子票据。</p>
<ul class="agencies">${agencies.map(
            (agency) => html`<li><a class="agency" href="${agency.checkoutUrl}" rel="noreferrer"><span class="logo" aria-hidden="true">${agency.logoText}</span><span class="name">${agency.displayName}</span><span class="go">去支付 <span aria-hidden="true">›</span></span></a></li>`,
          )}</ul>`;
    return html`<section aria-labelledby="pay-heading">
<h2 id="pay-heading">缴纳</h2>
${late}
<p class="due">今日应缴 <strong>${yuan(notice.amountDue)}</strong></p>
${list}
</section>`;
  }
  if (notice.status === 'PAID' || notice.status === 'PARTIALLY_REFUNDED' || notice.status === 'REFUNDED') {
    return html`<div class="panel ok">
<p><strong>已于 ${notice.paidAt ? beijingTime(notice.paidAt) : ''} 缴纳 ${notice.paidAmount ? yuan(notice.paidAmount) : ''}</strong>，无需再缴。</p>
${notice.status !== 'PAID' ? html`<p>该笔缴款已办理${notice.status === 'REFUNDED' ? '全额' : '部分'}退款，详情见电子票据的冲红记录。</p>` : ''}
${notice.receipt ? html`<div class="actions"><a class="button" href="${receiptHref(notice.receipt)}">查看电子票据</a></div>` : ''}
</div>`;
  }
  if (notice.status === 'VOIDED') {
    return html`<div class="panel note"><p><strong>该通知书已被执收单位作废，无需缴纳。</strong>如有疑问，请联系${notice.unitName}。</p></div>`;
  }
  return html`<div class="panel note"><p><strong>该通知书已超过缴款期限${notice.expireDate ? html`（${notice.expireDate}）` : ''}，不能在线缴纳。</strong>请联系${notice.unitName}重新开具缴款通知书。</p></div>`;
}

export function noticePage(notice: PortalNotice, agencies: PortalAgency[]): string {
  const status = shownStatus(notice);
  // Only a notice that can be paid today shows today's late fee and amount due.
  const issued = notice.status === 'ISSUED' && notice.payable;
  const rows = notice.lines.map(
    (line) => html`<tr>
<td>${line.itemName}${line.quantity > 1 ? html` × ${line.quantity}` : ''}${lateFeeRuleText(line.lateFeeRule) ? html`<span class="rule">${notice.lateFeeTerm}：${lateFeeRuleText(line.lateFeeRule)}</span>` : ''}</td>
<td class="num">${formatMoney(line.amount)}</td>
<td class="num">${formatMoney(line.lateFee)}</td>
</tr>`,
  );
  return layout(
    '缴款通知书',
    html`<h1>缴款通知书 <span class="status ${status.tone}">${status.label}</span></h1>
<dl class="facts">
<dt>缴款码</dt><dd class="code-text">${groupPayCode(notice.payCode)}</dd>
<dt>执收单位</dt><dd>${notice.unitName}</dd>
<dt>缴款人</dt><dd>${notice.payerNameMasked}</dd>
<dt>缴款期限</dt><dd>${notice.dueDate}${notice.daysLate > 0 ? html`（已逾期 ${notice.daysLate} 天）` : ''}</dd>
${notice.expireDate ? html`<dt>有效期至</dt><dd>${notice.expireDate}</dd>` : ''}
</dl>
<table>
<caption>缴款项目（金额单位：元）</caption>
<thead><tr><th scope="col">项目</th><th scope="col" class="num">金额</th><th scope="col" class="num">${issued ? `今日${notice.lateFeeTerm}` : notice.lateFeeTerm}</th></tr></thead>
<tbody>${rows}</tbody>
<tfoot>
<tr><th scope="row">合计</th><td class="num">${formatMoney(notice.totalAmount)}</td><td class="num">${formatMoney(notice.lateFee)}</td></tr>
${issued ? html`<tr><th scope="row">今日应缴（${notice.today}）</th><td class="num" colspan="2">${formatMoney(notice.amountDue)}</td></tr>` : ''}
</tfoot>
</table>
${whatNext(notice, agencies)}
<p class="no-print"><a href="/pay">查询其他缴款通知书</a></p>`,
  );
}

// ---- the receipt ------------------------------------------------------------------------------

const RECEIPT_STATUS_TEXT = { VALID: '有效', PARTIALLY_REVERSED: '部分冲红', REVERSED: '已全额冲红' } as const;

export function receiptPage(receipt: PortalReceipt, content: ReceiptContent, qrSvg: string, pageUrl: string): string {
  const verification = receipt.verified
    ? html`<div class="verify ok panel ok"><span class="mark">✓ 签名验证通过</span><span>平台签名密钥 <span class="code-text">${receipt.keyId}</span></span></div>`
    : html`<div class="verify bad panel bad" role="alert"><span class="mark">✗ 签名验证失败</span><span>密钥 <span class="code-text">${receipt.keyId}</span>。该票据内容可能被篡改，请勿作为缴款凭证，并联系执收单位。</span></div>`;
  const reversals =
    receipt.reversals.length === 0
      ? ''
      : html`<table>
<caption>冲红记录</caption>
<thead><tr><th scope="col">时间</th><th scope="col">原因</th><th scope="col" class="num">金额（元）</th></tr></thead>
<tbody>${receipt.reversals.map((reversal) => html`<tr><td>${beijingTime(reversal.reversedAt)}</td><td>${reversal.reason}</td><td class="num">${formatMoney(reversal.amount)}</td></tr>`)}</tbody>
</table>`;
  return layout(
    `电子票据 ${content.receiptNo}`,
    html`<div class="receipt">
<h1>非税收入电子缴款票据</h1>
<p class="subtitle">内蒙古自治区财政厅监制 · 票据状态：${RECEIPT_STATUS_TEXT[receipt.status]}</p>
<div class="head">
<dl class="facts">
<dt>票据号码</dt><dd class="code-text">${content.receiptNo}</dd>
<dt>校验码</dt><dd class="code-text">${content.checkCode}</dd>
<dt>缴款人</dt><dd>${content.payerName}</dd>
<dt>执收单位</dt><dd>${content.unitName}</dd>
<dt>缴款码</dt><dd class="code-text">${groupPayCode(content.payCode)}</dd>
</dl>
<div class="qr">${trustedHtml(qrSvg)}<span>扫码查验本票据</span></div>
</div>
<table>
<caption>项目明细（金额单位：元）</caption>
<thead><tr><th scope="col">项目编码</th><th scope="col">项目名称</th><th scope="col" class="num">金额</th><th scope="col" class="num">${lateFeeTerm(content.payCode.charAt(8))}</th></tr></thead>
<tbody>${content.items.map((item) => html`<tr><td class="code-text">${item.itemCode}</td><td>${item.itemName}</td><td class="num">${item.amount}</td><td class="num">${item.lateFee}</td></tr>`)}</tbody>
<tfoot>
<tr><th scope="row" colspan="2">合计</th><td class="num">${content.totalAmount}</td><td class="num">${content.lateFee}</td></tr>
<tr><th scope="row" colspan="2">实缴金额</th><td class="num" colspan="2">${content.paidAmount}</td></tr>
</tfoot>
</table>
<p class="amount-words">金额大写：人民币${amountInWords(content.paidAmount)}</p>
<dl class="facts">
<dt>代收机构</dt><dd>${receipt.agencyName ?? content.agencyCode}（${content.agencyCode}）</dd>
<dt>交易流水号</dt><dd class="code-text">${content.agencyTxnId}</dd>
<dt>缴款时间</dt><dd>${beijingTime(content.paidAt)}</dd>
<dt>开票时间</dt><dd>${beijingTime(content.issuedAt)}</dd>
</dl>
${verification}
${reversals}
<p class="print-only">查验地址：${pageUrl}</p>
</div>
<div class="no-print">
<div class="actions"><button type="button" id="print" class="secondary" hidden>打印票据</button><a class="button secondary" href="/v1/public/receipts/${content.receiptNo}?checkCode=${content.checkCode}">下载签名数据（JSON）</a></div>
<p>签名由平台使用国密 SM2 算法对票据内容（RFC 8785 规范化 JSON）签署，可用 <a href="/v1/platform/keys">平台公钥</a> 独立验证。打印时本票据排在一张 A5 纸上。</p>
</div>`,
  );
}

// ---- messages ---------------------------------------------------------------------------------

export function messagePage(title: string, message: SafeHtml | string, links: Array<{ href: string; text: string }> = [{ href: '/pay', text: '返回查询页' }]): string {
  return layout(
    title,
    html`<h1>${title}</h1>
<div class="panel note">${typeof message === 'string' ? html`<p>${message}</p>` : message}</div>
<div class="actions">${links.map((link) => html`<a class="button secondary" href="${link.href}">${link.text}</a>`)}</div>`,
  );
}
