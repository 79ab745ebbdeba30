/**
 * The sandbox agency's checkout (contracts/decisions/0081): what a payment app's page would show —
 * the notice, the amount, and a choice — drawn in the sandbox's own colours so that nobody takes
 * it for a real bank. Confirm posts the payment; fail and time out post nothing.
 */
import { groupPayCode } from '../../domain/payCodeInput';
import { html, SafeHtml } from './html';
import { layout, yuan } from './pages';

export interface CheckoutView {
  payCode: string;
  amount: string;
  returnUrl: string;
  agencyTxnId: string;
  unitName: string;
  payerNameMasked: string;
  items: Array<{ itemName: string; amount: string }>;
  /** Tongfu's amount due now; the page warns when the amount asked differs. */
  amountDue: string;
  payable: boolean;
  /** The notice's status as Tongfu verified it (`PAID` when the payer comes back to a paid checkout). */
  status: string;
}

/** Why a notice Tongfu says is not payable cannot be paid, in the payer's words. */
function notPayableText(status: string): string {
  switch (status) {
    case 'PAID':
    case 'PARTIALLY_REFUNDED':
    case 'REFUNDED':
      return '通付核验：该通知书已经缴纳，无需再次支付。';
    case 'VOIDED':
      return '通付核验：该通知书已被执收单位作废，不可缴纳。';
    default:
      return '通付核验：该通知书已超过缴款期限，不可缴纳。';
  }
}

function banner(): SafeHtml {
  return html`<div class="panel warn"><p><strong>沙箱环境</strong>：这是通付内置的沙箱代收机构，仅供测试与演示，不会产生真实扣款。</p></div>`;
}

export function checkoutPage(view: CheckoutView): string {
  // A notice that cannot be paid owes nothing: say why, not that the amounts differ.
  const mismatch = view.payable && view.amount !== view.amountDue;
  return layout(
    '沙箱代收机构 收银台',
    html`${banner()}
<h1>沙箱代收机构 · 收银台</h1>
<dl class="facts">
<dt>收款方</dt><dd>${view.unitName}</dd>
<dt>缴款码</dt><dd class="code-text">${groupPayCode(view.payCode)}</dd>
<dt>缴款人</dt><dd>${view.payerNameMasked}</dd>
<dt>项目</dt><dd>${view.items.map((item, index) => html`${index > 0 ? '，' : ''}${item.itemName}`)}</dd>
</dl>
<p class="due">支付金额 <strong>${yuan(view.amount)}</strong></p>
${mismatch ? html`<div class="panel bad" role="alert"><p>通付核验的应缴金额为 ${yuan(view.amountDue)}，与本次支付金额不符，确认支付将被通付拒绝。</p></div>` : ''}
${!view.payable ? html`<div class="panel bad" role="alert"><p>${notPayableText(view.status)}</p></div>` : ''}
<form method="post" action="/sandbox/agency/checkout">
<input type="hidden" name="payCode" value="${view.payCode}">
<input type="hidden" name="amount" value="${view.amount}">
<input type="hidden" name="returnUrl" value="${view.returnUrl}">
<input type="hidden" name="agencyTxnId" value="${view.agencyTxnId}">
<fieldset class="panel">
<legend>模拟支付结果</legend>
<div class="actions">
<button type="submit" name="outcome" value="confirm">确认支付 ${yuan(view.amount)}</button>
<button type="submit" name="outcome" value="fail" class="danger">模拟支付失败</button>
<button type="submit" name="outcome" value="timeout" class="secondary">模拟支付超时</button>
</div>
</fieldset>
</form>`,
  );
}

export function checkoutResultPage(title: string, message: string, returnUrl: string | undefined, tone: 'bad' | 'note'): string {
  return layout(
    title,
    html`${banner()}
<h1>${title}</h1>
<div class="panel ${tone}"><p>${message}</p></div>
<div class="actions">${returnUrl ? html`<a class="button" href="${returnUrl}">返回通付</a>` : html`<a class="button" href="/pay">返回通付</a>`}</div>`,
  );
}
