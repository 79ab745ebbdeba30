/**
 * The payer portal's routes (contracts/decisions/0080) and, where TONGFU_SANDBOX is on (never in
 * production), the sandbox agency's checkout (0081, 0191). They answer HTML, not the JSON of the
 * API, so they are a Koa router of their own beside the contract-validated routes; each catches its
 * own errors and answers a page.
 *
 *   GET /pay                      the lookup form; with payCode and payerName, the notice
 *   POST /pay                     the lookup form posted (payCode, payerName): the notice
 *   GET /pay/{payCode}            the form with the code filled in (the notice's payUrl)
 *   GET /pay/return               the way back from an agency's checkout (→ the receipt)
 *   GET /receipts/{receiptNo}     the e-receipt, verified on the server, with its QR code
 *   GET /assets/portal.css|js     the only style sheet and script
 *   GET, POST /sandbox/agency/checkout   the sandbox agency's checkout (TONGFU_SANDBOX; not in production)
 *
 * Every page carries a Content-Security-Policy that allows nothing but this service.
 */
import Router from '@koa/router';
import type Koa from 'koa';
import QRCode from 'qrcode';
import { assert, TongfuError } from '../../domain/errors';
import { MONEY_PATTERN } from '../../domain/money';
import { normalizePayCodeInput, type PayCodeInputProblem } from '../../domain/payCodeInput';
import type { Logger } from '../../logger';
import { SandboxAgency } from '../../sandbox/agency';
import type { Services } from '../../services';
import { PortalService } from '../../services/portal';
import { PublicLookupLimiter } from '../../services/publicLookupLimits';
import type { ReceiptContent } from '../../services/receipts';
import { isDatabaseUnavailable } from '../app';
import { PORTAL_CSS, PORTAL_JS } from './assets';
import { html } from './html';
import { lookupPage, messagePage, noticePage, receiptPage, type LookupForm } from './pages';
import { checkoutPage, checkoutResultPage } from './sandboxPages';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "style-src 'self'",
  "script-src 'self'",
  "img-src 'self' data:",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** A form body is a few short fields; anything larger is not one of ours. */
const FORM_BODY_BYTES_MAX = 8 * 1024;
const NAME_LENGTH_MAX = 100;
const ASSET_MAX_AGE_SECONDS = 86_400;

export const PAY_CODE_MESSAGES: Record<PayCodeInputProblem, string> = {
  EMPTY: '请输入缴款码。',
  NOT_20_DIGITS: '缴款码是 20 位数字，请对照缴款通知书核对。',
  CHECK_DIGITS: '缴款码校验位不符：有数字输错或前后颠倒，请逐位核对。',
};
/** Why Tongfu refused the sandbox's posting (docs/lifecycle.md §3 rule 5), in the payer's words. */
const POSTING_REFUSED_MESSAGES: Record<string, string> = {
  NOTICE_ALREADY_PAID: '该通知书已经缴过了。',
  AMOUNT_MISMATCH: '应缴金额已经变化（逾期后按日加收），请返回通付重新查询，按今日应缴金额支付。',
  NOTICE_NOT_PAYABLE: '该通知书已作废或已超过缴款期限，不能缴纳。',
  NOTICE_NOT_FOUND: '通付没有找到该缴款码的缴款通知书。',
};
export const NAME_MISSING_MESSAGE = '请输入缴款人姓名。';
export const NOT_FOUND_MESSAGE = '没有找到与该缴款码和姓名相符的缴款通知书。请核对缴款码和缴款人姓名（须与通知书上一致）。';

export interface PortalOptions {
  services: Services;
  publicBaseUrl: string;
  /** Whether the sandbox agency's checkout is mounted (TONGFU_SANDBOX; never in production). */
  sandbox: boolean;
  log: Logger;
  /** Where this service can reach itself over HTTP (the sandbox agency posts there). */
  selfUrl: () => string;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : Array.isArray(value) && typeof value[0] === 'string' ? value[0] : '';
}

function page(ctx: Koa.Context, status: number, body: string): void {
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = body;
}

async function readForm(ctx: Koa.Context): Promise<URLSearchParams> {
  if (!ctx.is('application/x-www-form-urlencoded')) throw new TongfuError('UNSUPPORTED_MEDIA_TYPE', 'a form is sent as application/x-www-form-urlencoded');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > FORM_BODY_BYTES_MAX) throw new TongfuError('PAYLOAD_TOO_LARGE', `a form is at most ${FORM_BODY_BYTES_MAX} bytes`);
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** The error answers of every portal page: a page in words, never a stack or the JSON of the API. */
function portalErrors(log: Logger): Koa.Middleware {
  return async (ctx, next) => {
    ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Frame-Options', 'DENY');
    try {
      await next();
    } catch (error) {
      const requestId = ctx.state.requestId as string | undefined;
      if (error instanceof TongfuError && error.code === 'RATE_LIMITED') {
        const retry = typeof error.details?.retryAfterSeconds === 'number' ? error.details.retryAfterSeconds : 60;
        ctx.set('Retry-After', String(retry));
        // A receipt's limits guard its check code; every other page's, the payment codes.
        const guarded = ctx.path.startsWith('/receipts/') ? '票据校验码' : '缴款码';
        page(ctx, 429, messagePage('查询过于频繁', `为防止${guarded}被猜测，查询次数受到限制。请 ${retry} 秒后再试。`));
        return;
      }
      if (error instanceof TongfuError && (error.code === 'NOT_FOUND' || error.code === 'NOTICE_NOT_FOUND')) {
        page(ctx, 404, messagePage('没有找到', '没有找到您要的页面或票据。请核对链接，或回到查询页重新查询。'));
        return;
      }
      if (error instanceof TongfuError && (error.code === 'PAYLOAD_TOO_LARGE' || error.code === 'UNSUPPORTED_MEDIA_TYPE')) {
        page(ctx, error.code === 'PAYLOAD_TOO_LARGE' ? 413 : 415, messagePage('无法处理该请求', '提交的内容不正确，请回到上一页重试。'));
        return;
      }
      if (isDatabaseUnavailable(error)) {
        log.warn({ err: error, requestId }, 'portal: database unavailable');
        ctx.set('Retry-After', '5');
        page(ctx, 503, messagePage('服务暂时不可用', '系统正在恢复，请稍后再试。'));
        return;
      }
      log.error({ err: error, requestId }, 'portal: unhandled error');
      page(ctx, 500, messagePage('出错了', `系统处理出错，请稍后再试。如需联系我们，请提供编号 ${requestId ?? ''}。`));
    }
  };
}

export function portalMiddleware(options: PortalOptions): Koa.Middleware {
  const { services, publicBaseUrl, log } = options;
  const { db, clocks } = services.deps;
  const limiter = new PublicLookupLimiter({ db, realClock: clocks.real, log });
  const portal = new PortalService({ db, clocks, log, publicBaseUrl, receipts: services.receipts, limiter, sandbox: options.sandbox });
  const router = new Router();
  router.use(portalErrors(log));

  router.get('/', (ctx) => {
    ctx.redirect('/pay');
  });
  router.get('/assets/portal.css', (ctx) => {
    ctx.type = 'text/css; charset=utf-8';
    ctx.set('Cache-Control', `public, max-age=${ASSET_MAX_AGE_SECONDS}`);
    ctx.body = PORTAL_CSS;
  });
  router.get('/assets/portal.js', (ctx) => {
    ctx.type = 'text/javascript; charset=utf-8';
    ctx.set('Cache-Control', `public, max-age=${ASSET_MAX_AGE_SECONDS}`);
    ctx.body = PORTAL_JS;
  });

  /** The lookup's answer: the notice, or the form again with what is wrong. */
  const answerLookup = async (ctx: Koa.Context, rawCode: string, typedName: string): Promise<void> => {
    const payerName = typedName.slice(0, NAME_LENGTH_MAX);
    const form: LookupForm = { payCode: rawCode, payerName, errors: {} };
    const code = normalizePayCodeInput(rawCode);
    // The server checks again what the page checked: a code failing its check digits is never
    // looked up and costs no lookup (docs/payment-code.md).
    if (code.problem !== undefined) form.errors.payCode = PAY_CODE_MESSAGES[code.problem];
    if (payerName.trim() === '') form.errors.payerName = NAME_MISSING_MESSAGE;
    if (form.errors.payCode || form.errors.payerName) {
      page(ctx, 400, lookupPage(form));
      return;
    }
    try {
      const notice = await portal.lookup(code.payCode, payerName, ctx.request.ip);
      const agencies = notice.status === 'ISSUED' && notice.payable ? await portal.agenciesFor(notice) : [];
      page(ctx, 200, noticePage(notice, agencies));
    } catch (error) {
      if (!(error instanceof TongfuError && error.code === 'NOTICE_NOT_FOUND')) throw error;
      page(ctx, 404, lookupPage({ ...form, formError: NOT_FOUND_MESSAGE }));
    }
  };

  router.get('/pay', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    if (ctx.query.payCode === undefined && ctx.query.payerName === undefined) {
      page(ctx, 200, lookupPage({ payCode: '', payerName: '', errors: {} }));
      return;
    }
    // Links and bookmarks of the query form still work; the page's own form posts (below).
    await answerLookup(ctx, text(ctx.query.payCode), text(ctx.query.payerName));
  });

  // The form posts, so that the payer's name is in no address: not in the browser's history, a
  // proxy's log or a Referer (decision 0193).
  router.post('/pay', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const form = await readForm(ctx);
    await answerLookup(ctx, form.get('payCode') ?? '', form.get('payerName') ?? '');
  });

  router.get('/pay/return', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const payCode = text(ctx.query.payCode);
    const receipt = await portal.receiptForReturn(payCode, text(ctx.query.expires), text(ctx.query.token));
    if (receipt !== undefined) {
      ctx.status = 303;
      ctx.redirect(`/receipts/${receipt.receiptNo}?checkCode=${receipt.checkCode}`);
      return;
    }
    page(ctx, 200, messagePage('尚未缴款成功', '通付还没有收到这笔缴款。如果您已完成支付，请稍候刷新本页；如果支付失败或已取消，可以回到查询页重新缴纳。', [
      { href: ctx.url, text: '刷新' },
      { href: `/pay/${payCode}`, text: '返回查询页' },
    ]));
  });

  router.get('/pay/:payCode', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const raw = ctx.params.payCode ?? '';
    const code = normalizePayCodeInput(raw);
    page(ctx, code.problem === undefined ? 200 : 400, lookupPage({ payCode: code.problem === undefined ? code.payCode : raw, payerName: '', errors: code.problem === undefined ? {} : { payCode: PAY_CODE_MESSAGES[code.problem] } }));
  });

  router.get('/receipts/:receiptNo', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const receiptNo = ctx.params.receiptNo ?? '';
    const checkCode = text(ctx.query.checkCode);
    if (!/^[0-9]{18}$/.test(receiptNo) || !/^[0-9A-Za-z]{6}$/.test(checkCode)) throw new TongfuError('NOT_FOUND', 'no such receipt');
    const receipt = await portal.receipt(receiptNo, checkCode, ctx.request.ip);
    const content = JSON.parse(receipt.signedBytes.toString('utf8')) as ReceiptContent;
    assert(content.receiptNo === receiptNo, `the stored bytes of receipt ${receiptNo} are its receipt`);
    const pageUrl = `${publicBaseUrl}/receipts/${content.receiptNo}?checkCode=${content.checkCode}`;
    const qrSvg = await QRCode.toString(pageUrl, { type: 'svg', errorCorrectionLevel: 'M', margin: 1 });
    page(ctx, 200, receiptPage(receipt, content, qrSvg, pageUrl));
  });

  if (options.sandbox) {
    const sandbox = new SandboxAgency({ db, clocks, log, selfUrl: options.selfUrl });
    /** Only the portal's own way back: never an open redirect. */
    const safeReturn = (value: string): string | undefined =>
      value.startsWith('/pay/return?') || value.startsWith(`${publicBaseUrl}/pay/return?`) ? value : undefined;

    router.get('/sandbox/agency/checkout', async (ctx) => {
      ctx.set('Cache-Control', 'no-store');
      const credentials = await sandbox.credentials();
      if (credentials === undefined) {
        page(ctx, 503, messagePage('沙箱代收机构未启用', html`<p>沙箱代收机构尚未注册。在空数据库上运行 <code>npm run cli -- demo seed</code> 即可注册。</p>`));
        return;
      }
      const payCode = text(ctx.query.payCode);
      const amount = text(ctx.query.amount);
      const returnUrl = safeReturn(text(ctx.query.returnUrl));
      // The checkout shows a notice without its payer's name: it counts against the address's
      // public lookups, so it is no faster way to walk the codes than the lookup (decision 0191).
      await limiter.admit(ctx.request.ip, `sandbox:${payCode.slice(0, 64)}`);
      if (normalizePayCodeInput(payCode).problem !== undefined || !MONEY_PATTERN.test(amount)) {
        page(ctx, 400, checkoutResultPage('无法支付', '收银台收到的缴款码或金额不正确。', returnUrl, 'bad'));
        return;
      }
      const verified = await sandbox.verify(credentials, payCode);
      const body = verified.body as { unitName?: string; payerNameMasked?: string; items?: Array<{ itemName: string; amount: string }>; amountDue?: string; payable?: boolean; status?: string } | undefined;
      if (verified.status !== 200 || body === undefined) {
        page(ctx, 502, checkoutResultPage('无法支付', `通付核验该缴款码未成功（HTTP ${verified.status}）。`, returnUrl, 'bad'));
        return;
      }
      page(ctx, 200, checkoutPage({
        payCode,
        amount,
        returnUrl: returnUrl ?? '',
        agencyTxnId: sandbox.newAgencyTxnId(),
        unitName: body.unitName ?? '',
        payerNameMasked: body.payerNameMasked ?? '',
        items: body.items ?? [],
        amountDue: body.amountDue ?? '',
        payable: body.payable === true,
        status: body.status ?? '',
      }));
    });

    router.post('/sandbox/agency/checkout', async (ctx) => {
      ctx.set('Cache-Control', 'no-store');
      const form = await readForm(ctx);
      const returnUrl = safeReturn(form.get('returnUrl') ?? '');
      const outcome = form.get('outcome');
      if (outcome === 'fail') {
        page(ctx, 200, checkoutResultPage('支付失败', '沙箱模拟了一次支付失败：没有扣款，也没有向通付入账。您可以返回通付重新选择支付方式。', returnUrl, 'bad'));
        return;
      }
      if (outcome === 'timeout') {
        page(ctx, 200, checkoutResultPage('支付超时', '沙箱模拟了一次支付超时：银行没有在规定时间内应答，没有扣款，也没有向通付入账。请稍后重试。', returnUrl, 'note'));
        return;
      }
      if (outcome !== 'confirm') {
        page(ctx, 400, checkoutResultPage('无法支付', '收银台没有收到有效的支付指令。', returnUrl, 'bad'));
        return;
      }
      const credentials = await sandbox.credentials();
      const payCode = form.get('payCode') ?? '';
      const amount = form.get('amount') ?? '';
      await limiter.admit(ctx.request.ip, `sandbox:${payCode.slice(0, 64)}`);
      const agencyTxnId = form.get('agencyTxnId') ?? '';
      if (credentials === undefined || !/^SBX-[A-Za-z0-9_-]{1,60}$/.test(agencyTxnId)) {
        page(ctx, 400, checkoutResultPage('无法支付', '收银台没有收到有效的支付指令。', returnUrl, 'bad'));
        return;
      }
      // The real, signed posting over HTTP, exactly as an external agency sends it.
      const answer = await sandbox.pay(credentials, { agencyTxnId, payCode, amount });
      if (answer.status === 201) {
        ctx.status = 303;
        ctx.redirect(returnUrl ?? '/pay');
        return;
      }
      const error = (answer.body as { error?: { code?: string; message?: string } } | undefined)?.error;
      const why = error?.code === undefined ? '' : (POSTING_REFUSED_MESSAGES[error.code] ?? '');
      page(ctx, 200, checkoutResultPage('支付未完成', `通付拒绝了这笔入账（${error?.code ?? `HTTP ${answer.status}`}），沙箱没有扣款。${why}`, returnUrl, 'bad'));
    });
  }

  const routes = router.routes() as Koa.Middleware;
  const notFound = messagePage('没有找到', '没有找到您要的页面或票据。请核对链接，或回到查询页重新查询。');
  // A link under the portal's own paths that names no page (a copied link with a piece missing or
  // one too many) is a page in words too, not the API's JSON 404.
  return (ctx, next) =>
    routes(ctx, async () => {
      if ((ctx.method === 'GET' || ctx.method === 'HEAD') && /^\/(pay|receipts)(\/|$)/i.test(ctx.path)) {
        ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
        ctx.set('X-Content-Type-Options', 'nosniff');
        ctx.set('Referrer-Policy', 'no-referrer');
        ctx.set('X-Frame-Options', 'DENY');
        ctx.set('Cache-Control', 'no-store');
        page(ctx, 404, notFound);
        return;
      }
      await next();
    });
}
