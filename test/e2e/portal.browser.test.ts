import fs from 'node:fs';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { groupPayCode } from '../../src/domain/payCodeInput';
import { NAME_MISSING_MESSAGE, NOT_FOUND_MESSAGE, PAY_CODE_MESSAGES } from '../../src/http/portal/routes';
import { demoNotice, PortalTestService, startPortalService } from '../helpers/portalService';

/**
 * The payer's whole journey in a real headless Chromium (Debian's `chromium`, driven by
 * puppeteer-core), on a desktop and a phone viewport: look a notice up, get the name wrong, get
 * the check digits wrong, pay through the sandbox agency, land on the verified receipt, reload,
 * and find the notice paid. Screenshots go to docs/screenshots/ (the README shows them).
 *
 * Chromium is required, not optional: `.ci/run` installs it, and locally
 * `apt-get install -y --no-install-recommends chromium fonts-wqy-microhei` does.
 */
jest.setTimeout(240_000);

// What the functions passed to page.evaluate use, in the browser. Declared here, loosely, rather
// than adding the DOM library to the whole project's types (where `fetch` and Node's globals live).
declare const document: any;
declare const Node: any;
declare function getComputedStyle(element: any): any;
type HTMLInputElement = any;
type HTMLElement = any;
type HTMLAnchorElement = any;
type Element = any;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = path.resolve(__dirname, '..', '..', 'docs', 'screenshots');
const smCryptoSm2 = (require('sm-crypto') as { sm2: { doVerifySignature(message: string, signatureHex: string, publicKeyHex: string, options: { hash: boolean; der: boolean }): boolean } }).sm2;

/**
 * RFC 8785 for what a receipt holds (objects, arrays, strings): keys sorted by UTF-16 code units,
 * strings as JSON.stringify writes them. Written here so that the check does not use our own code.
 */
function canonicalize(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalize).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalize(item)}`).join(',')}}`;
  }
  if (typeof value !== 'string') throw new Error(`a receipt holds strings, not ${typeof value}`);
  return JSON.stringify(value);
}

let service: PortalTestService;
let browser: Browser;

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}: apt-get install -y --no-install-recommends chromium fonts-wqy-microhei (or set CHROMIUM_PATH)`);
  }
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  service = await startPortalService();
  browser = await puppeteer.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--lang=zh-CN'], headless: true });
});

afterAll(async () => {
  await browser?.close();
  await service?.close();
});

interface Watched {
  page: Page;
  /** Every URL the page requested. */
  requests: string[];
}

async function newPage(viewport: { width: number; height: number; isMobile?: boolean }, javaScript = true): Promise<Watched> {
  const page = await browser.newPage();
  await page.setViewport({ ...viewport, deviceScaleFactor: 1, hasTouch: viewport.isMobile === true });
  await page.setJavaScriptEnabled(javaScript);
  const requests: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('pageerror', (error) => {
    throw error;
  });
  return { page, requests };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

async function submit(page: Page, selector = 'button[type=submit]'): Promise<void> {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(selector)]);
}

async function fillLookup(page: Page, payCode: string, payerName: string): Promise<void> {
  await page.$eval('#payCode', (input) => ((input as HTMLInputElement).value = ''));
  await page.$eval('#payerName', (input) => ((input as HTMLInputElement).value = ''));
  await page.type('#payCode', payCode);
  await page.type('#payerName', payerName);
}

function text(page: Page, selector: string): Promise<string> {
  return page.$eval(selector, (element) => (element.textContent ?? '').trim());
}

/** Text whose contrast with its background is under WCAG 2.1 AA (4.5:1, or 3:1 for large text). */
async function contrastFailures(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    function rgba(value: string): [number, number, number, number] {
      const parts = value.match(/[\d.]+/g)?.map(Number) ?? [0, 0, 0, 1];
      return [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0, parts[3] ?? 1];
    }
    function luminance([r, g, b]: [number, number, number, number]): number {
      const channel = (c: number): number => {
        const s = c / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    }
    function background(element: Element | null): [number, number, number, number] {
      for (let node = element; node; node = node.parentElement) {
        const colour = rgba(getComputedStyle(node).backgroundColor);
        if (colour[3] > 0.5) return colour;
      }
      return [255, 255, 255, 1];
    }
    const failures: string[] = [];
    for (const element of Array.from(document.querySelectorAll("body *")) as any[]) {
      const ownText = Array.from(element.childNodes as any[]).some((node: any) => node.nodeType === Node.TEXT_NODE && (node.textContent ?? '').trim() !== '');
      const style = getComputedStyle(element);
      if (!ownText || style.visibility === 'hidden' || style.display === 'none' || (element as HTMLElement).offsetParent === null) continue;
      const fg = luminance(rgba(style.color));
      const bg = luminance(background(element));
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) failures.push(`${element.tagName} "${(element.textContent ?? '').trim().slice(0, 30)}" ${ratio.toFixed(2)}:1`);
    }
    return failures;
  });
}

/** Every input has a label, and the descriptions it names exist. */
async function labelProblems(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    (Array.from(document.querySelectorAll("input:not([type=hidden])")) as any[]).flatMap((input: any) => {
      const problems: string[] = [];
      if (!document.querySelector(`label[for="${input.id}"]`)) problems.push(`#${input.id} has no label`);
      for (const id of (input.getAttribute('aria-describedby') ?? '').split(/\s+/).filter(Boolean)) {
        if (!document.getElementById(id)) problems.push(`#${input.id} is described by a missing #${id}`);
      }
      return problems;
    }),
  );
}

async function checkPage(watched: Watched): Promise<void> {
  expect(await contrastFailures(watched.page)).toEqual([]);
  expect(await labelProblems(watched.page)).toEqual([]);
  // No fonts, scripts, styles or images from anywhere but Tongfu.
  expect(watched.requests.filter((url) => !url.startsWith(`${service.baseUrl}/`) && !url.startsWith('data:'))).toEqual([]);
  // Nothing is cut off sideways (the page is as wide as the viewport).
  const overflow = await watched.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
}

function wrongCheckDigit(payCode: string): string {
  const last = Number(payCode.at(-1));
  return `${payCode.slice(0, -1)}${(last + 1) % 10}`;
}

async function pdfPages(page: Page): Promise<number> {
  const pdf = Buffer.from(await page.pdf({ format: 'A5', printBackground: true }));
  return (pdf.toString('latin1').match(/\/Type\s*\/Page(?![s\w])/g) ?? []).length;
}

async function journey(prefix: string, viewport: { width: number; height: number; isMobile?: boolean }, payerName: string): Promise<void> {
  const notice = demoNotice(service.world, payerName);
  expect(notice.status).toBe('ISSUED');
  const watched = await newPage(viewport);
  const { page } = watched;

  // 1. The form.
  await page.goto(`${service.baseUrl}/pay`, { waitUntil: 'load' });
  expect(await page.$eval('html', (element) => element.lang)).toBe('zh-CN');
  await shot(page, `${prefix}-1-lookup`);
  await checkPage(watched);

  // 2. Bad check digits: the page says so next to the field and sends nothing.
  const before = watched.requests.length;
  await fillLookup(page, groupPayCode(wrongCheckDigit(notice.payCode)), payerName);
  await page.click('button[type=submit]');
  await page.waitForFunction(() => (document.getElementById('payCode-error')?.textContent ?? '') !== '');
  expect(await text(page, '#payCode-error')).toBe(PAY_CODE_MESSAGES.CHECK_DIGITS);
  expect(await page.$eval('#payCode', (input) => [input.getAttribute('aria-invalid'), input.getAttribute('aria-describedby')])).toEqual(['true', 'payCode-hint payCode-error']);
  expect(await page.evaluate(() => document.activeElement?.id)).toBe('payCode');
  expect(watched.requests.slice(before).filter((url) => new URL(url).pathname === '/pay')).toEqual([]);
  expect(page.url()).toBe(`${service.baseUrl}/pay`);
  await shot(page, `${prefix}-2-bad-check-digits`);

  // 3. The right code (grouped as on paper), a wrong name: one answer, said in words.
  await fillLookup(page, groupPayCode(notice.payCode), '张三');
  await submit(page);
  expect(await text(page, '#error-summary')).toContain(NOT_FOUND_MESSAGE);
  expect(await page.$eval('#payCode', (input) => (input as HTMLInputElement).value)).toBe(groupPayCode(notice.payCode));
  await shot(page, `${prefix}-3-wrong-name`);
  await checkPage(watched);

  // 4. The right name, typed with the keyboard only: the notice.
  await fillLookup(page, groupPayCode(notice.payCode), '');
  await page.focus('#payerName');
  await page.keyboard.type(payerName);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press('Enter')]);
  const noticeText = await text(page, 'main');
  expect(noticeText).toContain('未缴');
  expect(noticeText).toContain(`今日应缴 ${notice.amountDue} 元`);
  expect(noticeText).toContain(`**${[...payerName].at(-1)}`);
  expect(noticeText).not.toContain(payerName);
  expect(noticeText).toContain('每日按 30‰ 加收，最高不超过本金');
  await shot(page, `${prefix}-4-notice`);
  await checkPage(watched);

  // 5. Pay through the sandbox agency: its checkout, then confirm.
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('a.agency')]);
  expect(new URL(page.url()).pathname).toBe('/sandbox/agency/checkout');
  expect(await text(page, 'main')).toContain(`支付金额 ${notice.amountDue} 元`);
  await shot(page, `${prefix}-5-checkout`);
  await checkPage(watched);
  const checkoutUrl = page.url();
  await submit(page, 'button[value=confirm]');

  // 6. The receipt, verified on the server.
  expect(new URL(page.url()).pathname).toMatch(/^\/receipts\/[0-9]{18}$/);
  const receiptUrl = page.url();
  const receiptText = await text(page, 'main');
  expect(receiptText).toContain('签名验证通过');
  expect(receiptText).toContain(payerName);
  expect(receiptText).toContain('沙箱代收机构');
  expect(receiptText).toContain(notice.amountDue);
  expect(await page.$$eval('.qr svg', (svgs) => svgs.length)).toBe(1);
  await shot(page, `${prefix}-6-receipt`);
  await checkPage(watched);
  // One A5 portrait page in print.
  expect(await pdfPages(page)).toBe(1);
  if (prefix === 'desktop') {
    await page.emulateMediaType('print');
    await page.setViewport({ width: 559, height: 794, deviceScaleFactor: 1 });
    await shot(page, 'print-receipt-a5');
    await page.emulateMediaType('screen');
    await page.setViewport({ ...viewport, deviceScaleFactor: 1 });
  }

  // The signature verifies independently too: sm-crypto, the published key, the JSON.
  const { receiptNo, checkCode } = { receiptNo: new URL(receiptUrl).pathname.split('/')[2] as string, checkCode: new URL(receiptUrl).searchParams.get('checkCode') as string };
  const answer = (await (await fetch(`${service.baseUrl}/v1/public/receipts/${receiptNo}?checkCode=${checkCode}`)).json()) as { receipt: unknown; signature: string; keyId: string };
  const keys = (await (await fetch(`${service.baseUrl}/v1/platform/keys`)).json()) as { keys: Array<{ keyId: string; publicKeyHex: string }> };
  const key = keys.keys.find((candidate) => candidate.keyId === answer.keyId);
  expect(smCryptoSm2.doVerifySignature(canonicalize(answer.receipt), Buffer.from(answer.signature, 'base64').toString('hex'), key!.publicKeyHex, { hash: true, der: true })).toBe(true);
  expect(receiptText).toContain(answer.keyId);

  // 7. Reload after payment: the same receipt, still verified.
  await page.reload({ waitUntil: 'load' });
  expect(await text(page, 'main')).toContain('签名验证通过');

  // 8. The notice is paid now, and leads to its receipt.
  await page.goto(`${service.baseUrl}/pay?payCode=${notice.payCode}&payerName=${encodeURIComponent(payerName)}`, { waitUntil: 'load' });
  expect(await text(page, 'h1')).toContain('已缴');
  expect(await page.$eval('a.button', (link) => (link as HTMLAnchorElement).href)).toBe(receiptUrl);
  expect(await page.$$('a.agency')).toEqual([]);
  await shot(page, `${prefix}-7-paid`);
  await checkPage(watched);

  // 9. Paying it again through the old checkout is refused by Tongfu, and nothing is taken.
  await page.goto(checkoutUrl, { waitUntil: 'load' });
  await submit(page, 'button[value=confirm]');
  expect(await text(page, 'main')).toContain('NOTICE_ALREADY_PAID');
  await page.close();
}

it('desktop (1280×800): lookup, wrong name, bad check digits, pay through the sandbox, verified receipt, reload, paid', async () => {
  await journey('desktop', { width: 1280, height: 800 }, '阿拉坦·巴根');
});

it('phone (390×844): the same journey', async () => {
  await journey('phone', { width: 390, height: 844, isMobile: true }, '王建国');
});

it('works without JavaScript: the server checks the digits and the name, fail and time-out post nothing, confirm pays', async () => {
  const notice = demoNotice(service.world, '呼和浩特市青城建筑工程有限公司');
  const watched = await newPage({ width: 390, height: 844, isMobile: true }, false);
  const { page } = watched;
  await page.goto(`${service.baseUrl}/pay/${notice.payCode}`, { waitUntil: 'load' });
  expect(await page.$eval('#payCode', (input) => (input as HTMLInputElement).value)).toBe(notice.payCode);

  await fillLookup(page, wrongCheckDigit(notice.payCode), '');
  await submit(page);
  expect(await text(page, '#payCode-error')).toBe(PAY_CODE_MESSAGES.CHECK_DIGITS);
  expect(await text(page, '#payerName-error')).toBe(NAME_MISSING_MESSAGE);
  expect(await page.$eval('#payerName', (input) => input.getAttribute('aria-describedby'))).toBe('payerName-hint payerName-error');
  await shot(page, 'nojs-bad-check-digits');

  await fillLookup(page, notice.payCode, notice.payerName);
  await submit(page);
  expect(await text(page, 'main')).toContain('每日按 0.5‰ 加收，最高不超过本金');
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('a.agency')]);
  const checkoutUrl = page.url();

  await submit(page, 'button[value=fail]');
  expect(await text(page, 'h1')).toBe('支付失败');
  await submit(page, 'a.button');
  expect(await text(page, 'h1')).toBe('尚未缴款成功');
  await page.goto(checkoutUrl, { waitUntil: 'load' });
  await submit(page, 'button[value=timeout]');
  expect(await text(page, 'h1')).toBe('支付超时');
  expect(await service.database.db('payments').where({ pay_code: notice.payCode }).count<Array<{ count: string }>>({ count: '*' })).toEqual([{ count: '0' }]);

  await page.goto(checkoutUrl, { waitUntil: 'load' });
  await submit(page, 'button[value=confirm]');
  expect(await text(page, 'main')).toContain('签名验证通过');
  await checkPage(watched);
  await page.close();
});
