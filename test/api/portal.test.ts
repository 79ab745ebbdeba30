import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { runCli } from '../../src/cli/main';
import { seedDemo } from '../../src/cli/demoSeed';
import { CONTENT_SECURITY_POLICY, NAME_MISSING_MESSAGE, NOT_FOUND_MESSAGE, PAY_CODE_MESSAGES } from '../../src/http/portal/routes';
import { Decimal } from '../../src/domain/money';
import { payCodeCheckDigits } from '../../src/domain/payCode';
import { recordReversal } from '../../src/services/receipts';
import { SANDBOX_AGENCY_CODE } from '../../src/sandbox/agency';
import { createTestDatabase } from '../helpers/database';
import { demoNotice, PortalTestService, startPortalService } from '../helpers/portalService';

/**
 * The payer portal over HTTP, without a browser (test/e2e/portal.browser.test.ts walks it in one):
 * what each page says in each state, the server's own checks, the public lookup's limits shared
 * with the JSON endpoint, the receipt's verification, the way back from a checkout, and the
 * sandbox agency posting through the real signed HTTP endpoint.
 */
jest.setTimeout(120_000);

let service: PortalTestService;

beforeAll(async () => {
  service = await startPortalService();
});
afterAll(async () => {
  await service.close();
});

async function get(path: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await fetch(`${service.baseUrl}${path}`, { redirect: 'manual', ...init });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

function lookupPath(payCode: string, payerName: string): string {
  return `/pay?payCode=${encodeURIComponent(payCode)}&payerName=${encodeURIComponent(payerName)}`;
}

/** The text of the element with this id (one line, tags removed). */
function byId(page: string, id: string): string {
  const match = new RegExp(`id="${id}"[^>]*>([\\s\\S]*?)</(p|div|span)>`).exec(page);
  return (match?.[1] ?? '').replace(/<[^>]+>/g, '').trim();
}

describe('the lookup form', () => {
  it('posts, so the payer’s name is in no address; the posted lookup answers as the query form does (decision 0193)', async () => {
    const form = (await get('/pay')).text;
    expect(form).toContain('<form id="lookup-form" method="post" action="/pay" novalidate>');
    const notice = demoNotice(service.world, '王建国');
    const posted = await get('/pay', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ payCode: notice.payCode, payerName: '王建国' }).toString() });
    expect(posted.status).toBe(200);
    expect(posted.headers.get('cache-control')).toBe('no-store');
    expect(posted.text).toContain('**国');
    expect(posted.text).not.toContain('王建国');
    const dueToday = (page: string): string | undefined => /今日应缴 <strong>[0-9.]+ 元<\/strong>/.exec(page)?.[0];
    expect(dueToday(posted.text)).toBeDefined();
    expect(dueToday(posted.text)).toBe(dueToday((await get(lookupPath(notice.payCode, '王建国'))).text));
    const wrong = await get('/pay', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ payCode: notice.payCode, payerName: '张三' }).toString() });
    expect(wrong.status).toBe(404);
    expect(wrong.text).toContain(NOT_FOUND_MESSAGE);
    expect((await get('/pay', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(415);
    await service.database.db('public_lookup_counters').delete();
  });
});

describe('pages', () => {
  it('serve a strict Content-Security-Policy and nothing from elsewhere', async () => {
    const page = await get('/pay');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toContain("default-src 'none'");
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.text).toContain('<html lang="zh-CN">');
    const urls = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] as string);
    expect(urls.filter((url) => !url.startsWith('/') && !url.startsWith('#'))).toEqual([]);
    expect((await get('/assets/portal.css')).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await get('/assets/portal.js')).text).toContain('mod97');
  });

  it('answer a link under the portal’s paths that names no page with a page in words, not the API’s JSON', async () => {
    for (const path of ['/pay/15010026200000000107/extra', '/receipts/', '/receipts', '/pay/return/x']) {
      const page = await get(path);
      expect(page.status).toBe(404);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
      expect(page.text).toContain('没有找到您要的页面或票据');
    }
    // Elsewhere, and another method, the API's answer stands.
    const api = await get('/v1/nothing');
    expect(api.status).toBe(404);
    expect(api.headers.get('content-type')).toContain('application/json');
    expect((await get('/pay', { method: 'PUT' })).headers.get('content-type')).toContain('application/json');
  });

  it('send / to the lookup form', async () => {
    const root = await get('/');
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/pay');
  });

  it('fill the code in from the payUrl of a notice', async () => {
    const notice = demoNotice(service.world, '王建国');
    const page = await get(`/pay/${notice.payCode}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain(`value="${notice.payCode}"`);
  });
});

describe('the lookup, checked again on the server', () => {
  it('refuses bad check digits and a missing name in words tied to their fields, and looks nothing up', async () => {
    const notice = demoNotice(service.world, '王建国');
    const wrong = `${notice.payCode.slice(0, 19)}${(Number(notice.payCode[19]) + 1) % 10}`;
    const before = await service.database.db('public_lookup_counters').sum<Array<{ sum: string | null }>>({ sum: 'hits' });
    const page = await get(lookupPath(wrong, ''));
    expect(page.status).toBe(400);
    expect(byId(page.text, 'payCode-error')).toBe(PAY_CODE_MESSAGES.CHECK_DIGITS);
    expect(byId(page.text, 'payerName-error')).toBe(NAME_MISSING_MESSAGE);
    expect(page.text).toMatch(/id="payCode" name="payCode" value="[0-9]{20}" aria-describedby="payCode-hint payCode-error" aria-invalid="true"/);
    expect(await service.database.db('public_lookup_counters').sum<Array<{ sum: string | null }>>({ sum: 'hits' })).toEqual(before);
    expect(byId((await get(lookupPath('1501 0026', '王建国'))).text, 'payCode-error')).toBe(PAY_CODE_MESSAGES.NOT_20_DIGITS);
  });

  it('accepts the code in groups of four, with full-width digits and hyphens', async () => {
    const notice = demoNotice(service.world, '王建国');
    const grouped = notice.payCode.replace(/(.{4})(?=.)/g, '$1 ');
    expect((await get(lookupPath(grouped, '王建国'))).status).toBe(200);
    const fullWidth = [...notice.payCode].map((digit) => String.fromCharCode(0xff10 + Number(digit))).join('');
    expect((await get(lookupPath(`${fullWidth.slice(0, 10)}-${fullWidth.slice(10)}`, '王 建国'))).status).toBe(200);
  });

  it('answers a wrong name and an unknown code alike, and never shows the name', async () => {
    const notice = demoNotice(service.world, '王建国');
    const wrongName = await get(lookupPath(notice.payCode, '王建军'));
    const unknown = await get(lookupPath(`150102261000099999${payCodeCheckDigits('150102261000099999')}`, '王建国'));
    for (const page of [wrongName, unknown]) {
      expect(page.status).toBe(404);
      expect(page.text).toContain(NOT_FOUND_MESSAGE);
    }
    const found = await get(lookupPath(notice.payCode, '王建国'));
    expect(found.text).toContain('**国');
    expect(found.text).not.toContain('王建国');
    expect(found.text).not.toMatch(/150102\d{8}\d{3}[\dX]|1380471/);
  });

  it('shares the public lookup limits: ten failed lookups of a code on the page refuse the JSON endpoint too', async () => {
    const notice = demoNotice(service.world, '呼和浩特市青城建筑工程有限公司');
    for (let attempt = 0; attempt < 10; attempt += 1) expect((await get(lookupPath(notice.payCode, `猜${attempt}`))).status).toBe(404);
    const page = await get(lookupPath(notice.payCode, notice.payerName));
    expect(page.status).toBe(429);
    expect(Number(page.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(page.text).toContain('查询过于频繁');
    const api = await get(`/v1/public/notices/${notice.payCode}?payerName=${encodeURIComponent(notice.payerName)}`);
    expect(api.status).toBe(429);
    await service.database.db('public_lookup_counters').delete();
  });
});

describe('the notice in each state', () => {
  it('ISSUED and late: the late fee, the rule behind it, the amount due today and the agencies', async () => {
    const notice = demoNotice(service.world, '阿拉坦·巴根');
    const page = (await get(lookupPath(notice.payCode, '阿拉坦·巴根'))).text;
    expect(page).toContain('未缴');
    expect(page).toContain('已逾期 12 天');
    expect(page).toContain('每日按 30‰ 加收，最高不超过本金');
    expect(page).toContain('<td class="num">72.00</td>');
    expect(page).toContain('今日应缴 <strong>272.00 元</strong>');
    expect(page).toMatch(/<a class="agency" href="\/sandbox\/agency\/checkout\?payCode=[0-9]{20}&amp;amount=272\.00&amp;returnUrl=%2Fpay%2Freturn%3F/);
    expect(page).toContain('沙箱代收机构');
  });

  it('names the surcharge as the payer’s papers do: 加处罚款 on a fine, 滞纳金 on a fee (decision 0208)', async () => {
    const fine = demoNotice(service.world, '阿拉坦·巴根');
    const finePage = (await get(lookupPath(fine.payCode, '阿拉坦·巴根'))).text;
    expect(finePage).toContain('<span class="rule">加处罚款：每日按 30‰ 加收，最高不超过本金</span>');
    expect(finePage).toContain('<th scope="col" class="num">今日加处罚款</th>');
    expect(finePage).toContain('今日应缴金额已含加处罚款 72.00 元，每多逾期一天还会增加');
    expect(finePage).not.toContain('滞纳金');
    const fee = demoNotice(service.world, '呼和浩特市青城建筑工程有限公司');
    const feePage = (await get(lookupPath(fee.payCode, fee.payerName))).text;
    expect(feePage).toContain('<span class="rule">滞纳金：每日按 0.5‰ 加收，最高不超过本金</span>');
    expect(feePage).toContain('<th scope="col" class="num">今日滞纳金</th>');
    expect(feePage).not.toContain('加处罚款');
  });

  it('ISSUED and on time: the due date, and the late fee rules of the table above it', async () => {
    const notice = demoNotice(service.world, '呼和浩特市青城建筑工程有限公司');
    const page = (await get(lookupPath(notice.payCode, notice.payerName))).text;
    expect(page).toMatch(/请在 <strong>\d{4}-\d{2}-\d{2}<\/strong> 当日或之前缴纳；逾期将按上表所列规则计收滞纳金。/);
    // The table of items and their rules comes before what the payer can do, not after it.
    expect(page.indexOf('<table>')).toBeLessThan(page.indexOf('逾期将按'));
  });

  it('ISSUED and late, its late fee at its cap: says the fee no longer grows', async () => {
    const notice = demoNotice(service.world, '阿拉坦·巴根');
    const notices = () => service.database.db('notices').where({ pay_code: notice.payCode });
    // 42 days late: 3% a day would be 252.00, capped at the fine, 200.00.
    await notices().update({ due_date: service.database.db.raw("due_date - 30") });
    try {
      const page = (await get(lookupPath(notice.payCode, '阿拉坦·巴根'))).text;
      expect(page).toContain('已逾期 42 天');
      expect(page).toContain('今日应缴 <strong>400.00 元</strong>');
      expect(page).toContain('今日应缴金额已含加处罚款 200.00 元，已达上限，不再增加');
      expect(page).not.toContain('每多逾期一天还会增加');
    } finally {
      await notices().update({ due_date: service.database.db.raw("due_date + 30") });
    }
  });

  it('ISSUED and late, with no late fee rule: says no late fee is added, not that it grows', async () => {
    const notice = demoNotice(service.world, '阿拉坦·巴根');
    const row = await service.database.db('notices').where({ pay_code: notice.payCode }).first();
    const items = () => service.database.db('notice_items').where({ notice_id: row.id });
    const before = await items().select('position', 'late_fee_type', 'rate_per_day', 'cap_ratio');
    await items().update({ late_fee_type: 'NONE', rate_per_day: null, cap_ratio: null });
    try {
      const page = (await get(lookupPath(notice.payCode, '阿拉坦·巴根'))).text;
      expect(page).toContain('已逾期 12 天');
      expect(page).toContain('今日应缴 <strong>200.00 元</strong>');
      expect(page).toContain('该通知书逾期不加收任何费用');
      expect(page).not.toContain('每多逾期一天还会增加');
      expect(page).not.toContain('已含');
    } finally {
      for (const item of before) await items().where({ position: item.position }).update({ late_fee_type: item.late_fee_type, rate_per_day: item.rate_per_day, cap_ratio: item.cap_ratio });
    }
  });

  it('ISSUED past its expiry date (the expire-notices job has not run yet): shown as expired, with no amount due today', async () => {
    const notice = demoNotice(service.world, '阿拉坦·巴根');
    // Due 12 days ago; its last day to be paid was 7 days ago.
    await service.database.db('notices').where({ pay_code: notice.payCode }).update({ expire_date: service.database.db.raw('due_date + 5') });
    try {
      const page = await get(lookupPath(notice.payCode, '阿拉坦·巴根'));
      expect(page.status).toBe(200);
      expect(page.text).toMatch(/<span class="status \w+">已过期<\/span>/);
      expect(page.text).toContain('不能在线缴纳');
      expect(page.text).not.toContain('class="agency"');
      // Nothing says it can still be paid, nor how much it would take today.
      expect(page.text).not.toContain('今日应缴');
      expect(page.text).not.toContain('今日加处罚款');
      expect(page.text).not.toContain('已逾期');
      expect(page.text).not.toContain('72.00');
    } finally {
      await service.database.db('notices').where({ pay_code: notice.payCode }).update({ expire_date: null });
    }
  });

  it.each([
    ['赵磊', '已作废', '该通知书已被执收单位作废，无需缴纳。'],
    ['刘芳', '已过期', '不能在线缴纳'],
    ['李秀英', '已缴', '查看电子票据'],
  ])('%s: %s, with what the payer can do', async (payerName, status, next) => {
    const notice = demoNotice(service.world, payerName);
    const page = (await get(lookupPath(notice.payCode, payerName))).text;
    expect(page).toContain(`<span class="status`);
    expect(page).toMatch(new RegExp(`<span class="status \\w+">${status}</span>`));
    expect(page).toContain(next);
    expect(page).not.toContain('class="agency"');
  });
});

describe('the receipt page', () => {
  async function paidReceiptPath(): Promise<string> {
    const notice = demoNotice(service.world, '李秀英');
    const page = (await get(lookupPath(notice.payCode, '李秀英'))).text;
    const match = /href="(\/receipts\/[0-9]{18}\?checkCode=[0-9A-Z]{6})"/.exec(page);
    if (!match) throw new Error('the paid notice links to its receipt');
    return match[1] as string;
  }

  it('shows the receipt verified against the published platform key, with a QR code of its own URL', async () => {
    const path = await paidReceiptPath();
    const page = (await get(path)).text;
    expect(page).toContain('✓ 签名验证通过');
    const keys = (await (await fetch(`${service.baseUrl}/v1/platform/keys`)).json()) as { keys: Array<{ keyId: string }> };
    expect(page).toContain(keys.keys[0]!.keyId);
    expect(page).toContain('李秀英');
    expect(page).toContain('沙箱代收机构（SANDBOX_AGENCY）');
    expect(page).toContain('金额大写：人民币捌佰元整');
    expect(page).toContain('<th scope="col" class="num">滞纳金</th>');
    expect(page).toMatch(/<svg[^>]*viewBox/);
    expect(page).toContain(`查验地址：${service.baseUrl}${path}`);
    // The check code is read off paper: lower case finds it too.
    expect((await get(path.replace(/checkCode=(\w+)/, (_all, code: string) => `checkCode=${code.toLowerCase()}`))).status).toBe(200);
  });

  it('says 验证失败 when the stored signature does not verify', async () => {
    const path = await paidReceiptPath();
    const receiptNo = path.split('/')[2]!.split('?')[0]!;
    // Receipts are append-only; a test that plays the attacker lifts the guard for one statement.
    await service.database.db.transaction(async (trx) => {
      await trx.raw('ALTER TABLE receipts DISABLE TRIGGER receipts_append_only');
      await trx.raw("UPDATE receipts SET content = convert_to(replace(convert_from(content, 'UTF8'), '800.00', '8.00'), 'UTF8') WHERE receipt_no = ?", [receiptNo]);
      await trx.raw('ALTER TABLE receipts ENABLE TRIGGER receipts_append_only');
    });
    const page = await get(path);
    expect(page.status).toBe(200);
    expect(page.text).toContain('✗ 签名验证失败');
    expect(page.text).not.toContain('签名验证通过');
  });

  it('links to the signed JSON, which no browser or proxy keeps: it names the payer in full (decision 0207)', async () => {
    const path = await paidReceiptPath();
    const page = (await get(path)).text;
    const jsonPath = /href="(\/v1\/public\/receipts\/[0-9]{18}\?checkCode=[0-9A-Z]{6})"/.exec(page)?.[1];
    expect(jsonPath).toBeDefined();
    const json = await get(jsonPath!);
    expect(json.status).toBe(200);
    expect(json.text).toContain('李秀英');
    expect(json.headers.get('cache-control')).toBe('no-store');
    // The notice lookup's JSON is one payer's notice too.
    const notice = demoNotice(service.world, '李秀英');
    const lookup = await get(`/v1/public/notices/${notice.payCode}?payerName=${encodeURIComponent('李秀英')}`);
    expect(lookup.status).toBe(200);
    expect(lookup.headers.get('cache-control')).toBe('no-store');
  });

  it('past its lookup limits, says the limit protects the check code (not a payment code)', async () => {
    const path = await paidReceiptPath();
    try {
      for (let attempt = 0; attempt < 10; attempt += 1) expect((await get(path.replace(/checkCode=\w+/, `checkCode=ZZZZZ${attempt}`))).status).toBe(404);
      const page = await get(path);
      expect(page.status).toBe(429);
      expect(page.text).toContain('为防止票据校验码被猜测，查询次数受到限制。');
      expect(page.text).not.toContain('缴款码被猜测');
    } finally {
      await service.database.db('public_lookup_counters').delete();
    }
  });

  it('is not found for a wrong check code, in words', async () => {
    const path = await paidReceiptPath();
    const page = await get(path.replace(/checkCode=\w+/, 'checkCode=ZZZZZZ'));
    expect(page.status).toBe(404);
    expect(page.text).toContain('没有找到');
  });
});

describe('a reversed receipt', () => {
  it('shows its reversals (冲红) beside the signed content, which still verifies', async () => {
    const notice = demoNotice(service.world, '王建国');
    // Pay it through the sandbox first: a fresh receipt nobody tampered with.
    const page = (await get(lookupPath(notice.payCode, '王建国'))).text;
    const checkout = /<a class="agency" href="([^"]+)"/.exec(page)![1]!.replace(/&amp;/g, '&');
    const form = (await get(checkout)).text;
    const field = (name: string): string => new RegExp(`name="${name}" value="([^"]*)"`).exec(form)![1]!.replace(/&amp;/g, '&');
    const body = new URLSearchParams({ payCode: field('payCode'), amount: field('amount'), returnUrl: field('returnUrl'), agencyTxnId: field('agencyTxnId'), outcome: 'confirm' });
    const confirmed = await get('/sandbox/agency/checkout', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() });
    const receiptPath = (await get(confirmed.headers.get('location')!)).headers.get('location')!;
    const receiptNo = receiptPath.split('/')[2]!.split('?')[0]!;
    await service.database.db.transaction((trx) => recordReversal(trx, receiptNo, { refundId: null, amount: new Decimal('210.00'), reason: '对账确认该笔缴款未到账', at: new Date() }));
    const receipt = (await get(receiptPath)).text;
    expect(receipt).toContain('票据状态：已全额冲红');
    expect(receipt).toContain('<caption>冲红记录</caption>');
    expect(receipt).toContain('对账确认该笔缴款未到账');
    expect(receipt).toContain('签名验证通过');
    // A fine's receipt names its surcharge 加处罚款 (decision 0208).
    expect(receipt).toContain('<th scope="col" class="num">加处罚款</th>');
    expect(receipt).not.toContain('滞纳金');
  });
});

describe('the way back from a checkout', () => {
  it('refuses a forged token and answers 尚未缴款成功 while the notice is unpaid', async () => {
    const notice = demoNotice(service.world, '呼和浩特市青城建筑工程有限公司');
    const page = (await get(lookupPath(notice.payCode, notice.payerName))).text;
    const returnPath = decodeURIComponent(/returnUrl=([^"&]+)/.exec(page)![1]!);
    expect((await get(returnPath)).text).toContain('尚未缴款成功');
    expect((await get(returnPath.replace(/token=.*/, 'token=AAAA'))).status).toBe(404);
    // The token names its code: another code with it is refused.
    const other = demoNotice(service.world, '王建国').payCode;
    expect((await get(returnPath.replace(notice.payCode, other))).status).toBe(404);
  });
});

describe('the sandbox agency', () => {
  it('posts through the real signed POST /v1/agency/payments over HTTP, like an external agency', async () => {
    const notice = demoNotice(service.world, '呼和浩特市青城建筑工程有限公司');
    // Put a recording proxy between the sandbox and the service: what reaches the API is what
    // went over the wire.
    const seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }> = [];
    const proxy = http.createServer((request, response) => {
      seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers });
      const forwarded = http.request(`${service.baseUrl}${request.url}`, { method: request.method, headers: request.headers }, (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      });
      request.pipe(forwarded);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    service.runtime.setListeningAddress(proxy.address() as AddressInfo);
    try {
      const page = (await get(lookupPath(notice.payCode, notice.payerName))).text;
      const checkout = /<a class="agency" href="([^"]+)"/.exec(page)![1]!.replace(/&amp;/g, '&');
      const form = (await get(checkout)).text;
      const field = (name: string): string => new RegExp(`name="${name}" value="([^"]*)"`).exec(form)![1]!.replace(/&amp;/g, '&');
      const body = new URLSearchParams({ payCode: field('payCode'), amount: field('amount'), returnUrl: field('returnUrl'), agencyTxnId: field('agencyTxnId'), outcome: 'confirm' });
      const confirmed = await get('/sandbox/agency/checkout', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() });
      expect(confirmed.status).toBe(303);
      const back = await get(confirmed.headers.get('location')!);
      expect(back.status).toBe(303);
      expect(back.headers.get('location')).toMatch(/^\/receipts\/[0-9]{18}\?checkCode=[0-9A-Z]{6}$/);

      const posting = seen.find((request) => request.method === 'POST');
      expect(posting?.url).toBe('/v1/agency/payments');
      const sandboxParty = await service.database.db('parties').where({ role: 'agency', code: SANDBOX_AGENCY_CODE }).first();
      expect(posting?.headers['x-tongfu-app-id']).toBe(sandboxParty.app_id);
      expect(posting?.headers['x-tongfu-signature']).toMatch(/^[A-Za-z0-9+/]+=*$/);
      expect(seen.some((request) => request.method === 'GET' && request.url === `/v1/agency/notices/${notice.payCode}`)).toBe(true);
      const payment = await service.database.db('payments').where({ pay_code: notice.payCode }).first();
      expect(payment.amount).toBe('1560.00');
      expect(payment.channel).toBe('ONLINE_BANKING');
    } finally {
      service.runtime.setListeningAddress({ address: '127.0.0.1', family: 'IPv4', port: Number(new URL(service.baseUrl).port) });
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });

  it('counts its checkout against the address’s public lookups: it shows a notice without its payer’s name (decision 0191)', async () => {
    await service.database.db('public_lookup_counters').delete();
    try {
      for (let shown = 0; shown < 30; shown += 1) expect((await get(`/sandbox/agency/checkout?payCode=1501022610000000${String(1000 + shown)}&amount=1.00`)).status).not.toBe(429);
      const refused = await get('/sandbox/agency/checkout?payCode=15010226100000000103&amount=1.00');
      expect(refused.status).toBe(429);
      expect(refused.text).toContain('查询过于频繁');
      const body = new URLSearchParams({ payCode: '15010226100000000103', amount: '1.00', returnUrl: '', agencyTxnId: 'SBX-limited', outcome: 'confirm' });
      expect((await get('/sandbox/agency/checkout', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() })).status).toBe(429);
      expect(await service.database.db('payments').where({ agency_txn_id: 'SBX-limited' }).first()).toBeUndefined();
    } finally {
      await service.database.db('public_lookup_counters').delete();
    }
  });

  it('says a notice is paid already when the payer comes back to its checkout (the Back button after paying), not that the amounts differ', async () => {
    await service.database.db('public_lookup_counters').delete();
    const paid = demoNotice(service.world, '李秀英');
    const page = await get(`/sandbox/agency/checkout?payCode=${paid.payCode}&amount=800.00`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('通付核验：该通知书已经缴纳，无需再次支付。');
    expect(page.text).not.toContain('不符');
    expect(page.text).not.toContain('应缴金额为');
    const voided = demoNotice(service.world, '赵磊');
    expect((await get(`/sandbox/agency/checkout?payCode=${voided.payCode}&amount=500.00`)).text).toContain('该通知书已被执收单位作废，不可缴纳。');
  });

  it('says in words why Tongfu refused the posting: an amount that is no longer the amount due', async () => {
    await service.database.db('public_lookup_counters').delete();
    const late = demoNotice(service.world, '阿拉坦·巴根');
    // The amount of yesterday's lookup: the late fee has grown since.
    const body = new URLSearchParams({ payCode: late.payCode, amount: '266.00', returnUrl: '', agencyTxnId: 'SBX-stale-amount', outcome: 'confirm' });
    const page = await get('/sandbox/agency/checkout', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() });
    expect(page.text).toContain('支付未完成');
    expect(page.text).toContain('应缴金额已经变化');
    expect(page.text).toContain('沙箱没有扣款');
    expect(await service.database.db('payments').where({ agency_txn_id: 'SBX-stale-amount' }).first()).toBeUndefined();
  });

  it('never redirects anywhere but the portal’s way back', async () => {
    const body = new URLSearchParams({ payCode: '15010226100000000103', amount: '1.00', returnUrl: 'https://evil.example/pay/return?x', agencyTxnId: 'SBX-x', outcome: 'fail' });
    const page = await get('/sandbox/agency/checkout', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() });
    expect(page.text).not.toContain('evil.example');
  });
});

describe('demo seed', () => {
  it('refuses a database that has data, saying what it holds', async () => {
    await expect(seedDemo(service.runtime, service.config, pino({ level: 'silent' }), { selfUrl: service.baseUrl, keysDir: '/tmp' })).rejects.toThrow(/demo seed needs an empty database, and this one has data \(\d+ parties/);
  });

  it('prints the world as one JSON object with --json, and refuses production', async () => {
    const database = await createTestDatabase();
    const out: unknown[] = [];
    const io = { out: (value: unknown) => out.push(value), err: () => undefined };
    const env = { DATABASE_URL: database.connectionString, LOG_LEVEL: 'silent', PUBLIC_BASE_URL: 'http://demo.test', TONGFU_DATA_DIR: `/tmp/tongfu-demo-${process.pid}` };
    try {
      expect(await runCli(['demo', 'seed', '--json'], io, env)).toBe(0);
      const world = out[0] as { portalUrl: string; notices: Array<{ payCode: string; payerName: string; status: string; amountDue: string }> };
      expect(world.portalUrl).toBe('http://demo.test/pay');
      expect(world.notices.map((notice) => notice.status).sort()).toEqual(['EXPIRED', 'ISSUED', 'ISSUED', 'ISSUED', 'PAID', 'VOIDED']);
      expect(world.notices.find((notice) => notice.payerName === '阿拉坦·巴根')?.amountDue).toBe('272.00');
      for (const notice of world.notices) expect(notice.payCode).toMatch(/^[0-9]{20}$/);
      // Production: refused before it touches anything.
      const production = { ...env, NODE_ENV: 'production', TONGFU_PLATFORM_KEY: '1'.repeat(64), TONGFU_FIELD_KEY: '2'.repeat(32) };
      expect(await runCli(['demo', 'seed'], io, production)).toBe(1);
      expect(JSON.stringify(out[1])).toContain('refused when NODE_ENV=production');
    } finally {
      await database.drop();
    }
  });
});

describe('with TONGFU_SANDBOX=off', () => {
  it('has no sandbox checkout, outside production too, and offers none: a deployment with real notices turns it off', async () => {
    const staging = await startPortalService({ TONGFU_SANDBOX: 'off' });
    try {
      const checkout = await fetch(`${staging.baseUrl}/sandbox/agency/checkout?payCode=15010226100000000103&amount=1.00`);
      expect(checkout.status).toBe(404);
      expect((await fetch(`${staging.baseUrl}/sandbox/agency/checkout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'outcome=confirm' })).status).toBe(404);
      // The demo world's notice is shown, but the sandbox agency is not offered: its link would lead nowhere.
      const notice = demoNotice(staging.world, '阿拉坦·巴根');
      const page = await fetch(`${staging.baseUrl}${lookupPath(notice.payCode, notice.payerName)}`);
      const text = await page.text();
      expect(page.status).toBe(200);
      expect(text).toContain('今日应缴');
      expect(text).not.toContain('/sandbox/agency/checkout');
      expect(text).not.toContain('沙箱代收机构');
    } finally {
      await staging.close();
    }
  });
});

describe('in production', () => {
  it('has no sandbox: its checkout is not a route', async () => {
    const { startTestService } = await import('../helpers/testService');
    const production = await startTestService({ env: { NODE_ENV: 'production', TONGFU_PLATFORM_KEY: '1'.repeat(64), TONGFU_FIELD_KEY: '2'.repeat(32) } });
    try {
      const checkout = await fetch(`${production.baseUrl}/sandbox/agency/checkout?payCode=15010226100000000103&amount=1.00`);
      expect(checkout.status).toBe(404);
      expect(((await checkout.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
      expect((await fetch(`${production.baseUrl}/pay`)).status).toBe(200);
    } finally {
      await production.close();
    }
  });
});
