/**
 * `npm run cli -- demo seed [--json]` (contracts/decisions/0082): a complete, realistic demo world
 * on an empty database, so that a newcomer can pay a notice within a minute of `npm start`.
 *
 * Everything is built through the use cases the finance and unit endpoints run, and the one paid
 * notice is paid by the sandbox agency through the real signed `POST /v1/agency/payments` over
 * HTTP, to a server this command starts on a loopback port for the purpose. Notices that must be
 * late or expired are issued by the same use case on a business clock set back in time — they
 * were issued then — and the expiry is the expire-notices job's own work.
 *
 * Refused in production and on a database that holds any business data already.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Config } from '../config';
import { generateSm2KeyPair } from '../crypto/keys';
import { countBusinessRows } from '../db/repositories/demo';
import { addDays, shanghaiDate } from '../domain/businessDate';
import { fixedClock } from '../domain/clock';
import { TongfuError } from '../domain/errors';
import type { Logger } from '../logger';
import type { Runtime } from '../runtime';
import { SandboxAgency } from '../sandbox/agency';
import { registerSandboxAgency, registerSandboxBank } from '../sandbox/register';
import { buildServices, type Services } from '../services';
import { CLI_ACTOR } from '../services/audit';
import { expireNotices } from '../services/notices';
import type { CreateNoticeInput } from '../services/notices';

const DAY_MS = 86_400_000;

export interface DemoNotice {
  payCode: string;
  payerName: string;
  status: string;
  amountDue: string;
  /** What the notice shows off, for the person reading the output. */
  about: string;
  unitName: string;
}

export interface DemoWorld {
  portalUrl: string;
  notices: DemoNotice[];
  parties: Array<{ role: string; code: string; name: string; appId: string; privateKeyFile?: string }>;
}

/** Refuses production and a database with business data; the message says which and why. */
export async function checkDemoAllowed(config: Config, runtime: Pick<Runtime, 'database'>): Promise<void> {
  if (config.production) throw new TongfuError('INVALID_STATE_TRANSITION', 'demo seed is refused when NODE_ENV=production: it registers test parties and a sandbox agency');
  const counts = await countBusinessRows(runtime.database.db);
  const present = Object.entries(counts).filter(([, count]) => count > 0);
  if (present.length > 0) {
    throw new TongfuError('INVALID_STATE_TRANSITION', `demo seed needs an empty database, and this one has data (${present.map(([table, count]) => `${count} ${table}`).join(', ')}); use a fresh TONGFU_DATA_DIR or DATABASE_URL`, Object.fromEntries(present));
  }
}

const REGIONS: Array<[string, string, string | undefined]> = [
  ['150000', '内蒙古自治区', undefined],
  ['150100', '呼和浩特市', '150000'],
  ['150102', '新城区', '150100'],
  ['150105', '赛罕区', '150100'],
  ['150200', '包头市', '150000'],
  ['150203', '昆都仑区', '150200'],
  ['150700', '呼伦贝尔市', '150000'],
];

const ITEM = {
  licence: 'FEE_JSZ_GB',
  trafficFine: 'FINE_JTWF',
  streetFine: 'FINE_ZDJY',
  roadFee: 'FEE_DLZY',
  waste: 'FEE_LJCL',
} as const;

/**
 * Builds the demo world on `runtime` (whose database `checkDemoAllowed` passed). `selfUrl` is
 * where the runtime's HTTP server listens; `keysDir` receives the demo parties' private keys.
 */
export async function seedDemo(runtime: Runtime, config: Config, log: Logger, options: { selfUrl: string; keysDir: string }): Promise<DemoWorld> {
  await checkDemoAllowed(config, runtime);
  const { services } = runtime;
  const { catalogue, parties } = services;
  const clocks = services.deps.clocks;
  const now = clocks.business.now();
  const today = shanghaiDate(now);
  fs.mkdirSync(options.keysDir, { recursive: true, mode: 0o700 });
  const registered: DemoWorld['parties'] = [];

  async function partyWithKey(input: { role: 'finance' | 'unit'; code: string; name: string; regionCode?: string }): Promise<{ partyId: string }> {
    const pair = generateSm2KeyPair();
    const privateKeyFile = path.join(options.keysDir, `${input.code}.key`);
    fs.writeFileSync(privateKeyFile, `${pair.privateKeyHex}\n`, { mode: 0o600 });
    const registration = await parties.register({ ...input, publicKey: pair.publicKeyPem }, CLI_ACTOR);
    registered.push({ role: input.role, code: input.code, name: input.name, appId: registration.party.appId, privateKeyFile });
    return { partyId: registration.party.partyId };
  }

  await partyWithKey({ role: 'finance', code: 'FIN_NMG', name: '内蒙古自治区财政厅' });
  for (const [code, name, parentCode] of REGIONS) await catalogue.putRegion(code, { name, ...(parentCode ? { parentCode } : {}) }, CLI_ACTOR);

  const bank = await registerSandboxBank(services);
  registered.push({ role: 'bank', code: bank.code, name: '沙箱收款银行', appId: bank.appId });
  await catalogue.putAccount('NMG_FISCAL_001', { name: '内蒙古自治区财政厅非税收入财政专户', bankCode: bank.code, kind: 'FISCAL' }, CLI_ACTOR);
  await catalogue.putAccount('NMG_TREASURY_001', { name: '国家金库呼和浩特市中心支库待报解户', bankCode: bank.code, kind: 'TREASURY' }, CLI_ACTOR);
  await catalogue.putAccount('SANDBOX_CLEARING_001', { name: '沙箱代收机构非税收入汇缴户', bankCode: bank.code, kind: 'CLEARING' }, CLI_ACTOR);
  await catalogue.putSharingRule('SHARE_CITY_DISTRICT_40_60', { name: '市区四六分成', shares: [{ budgetLevel: 3, ratio: '0.4' }, { budgetLevel: 4, ratio: '0.6' }] }, CLI_ACTOR);
  const agency = await registerSandboxAgency(services, 'SANDBOX_CLEARING_001');
  registered.push({ role: 'agency', code: agency.code, name: '沙箱代收机构', appId: agency.appId });

  const treasury = 'NMG_TREASURY_001';
  const fiscal = 'NMG_FISCAL_001';
  await catalogue.putItem(ITEM.licence, { name: '机动车驾驶证工本费', incomeSortCode: '103040102', budgetLevel: 3, receivingAccountNo: treasury, pricing: { type: 'FIXED', amount: '10.00' }, lateFee: { type: 'NONE' }, status: 'ACTIVE' }, CLI_ACTOR);
  await catalogue.putItem(ITEM.trafficFine, {
    name: '道路交通安全违法罚款',
    incomeSortCode: '103050101',
    budgetLevel: 3,
    receivingAccountNo: treasury,
    pricing: { type: 'RANGE', min: '20.00', max: '2000.00' },
    // A late fine's 加处罚款: 3 % of the fine a day, never more than the fine (contracts/decisions/0208-fines-carry-jiachu-fakuan.md).
    lateFee: { type: 'DAILY_RATE', ratePerDay: '0.03', capRatio: '1.00' },
    status: 'ACTIVE',
  }, CLI_ACTOR);
  await catalogue.putItem(ITEM.streetFine, {
    name: '占道经营罚款',
    incomeSortCode: '103050199',
    budgetLevel: 4,
    receivingAccountNo: treasury,
    pricing: { type: 'RANGE', min: '50.00', max: '5000.00' },
    lateFee: { type: 'DAILY_RATE', ratePerDay: '0.03', capRatio: '1.00' },
    status: 'ACTIVE',
  }, CLI_ACTOR);
  await catalogue.putItem(ITEM.roadFee, {
    name: '城市道路占用费',
    incomeSortCode: '103042601',
    budgetLevel: 0,
    sharingRuleCode: 'SHARE_CITY_DISTRICT_40_60',
    receivingAccountNo: fiscal,
    pricing: { type: 'RANGE', min: '100.00', max: '50000.00' },
    // Fees: 每日万分之五 (0.5‰), capped at the fee.
    lateFee: { type: 'DAILY_RATE', ratePerDay: '0.0005', capRatio: '1.00' },
    status: 'ACTIVE',
  }, CLI_ACTOR);
  await catalogue.putItem(ITEM.waste, { name: '城市生活垃圾处理费（经营性单位）', incomeSortCode: '103042602', budgetLevel: 4, receivingAccountNo: fiscal, pricing: { type: 'FIXED', amount: '360.00' }, lateFee: { type: 'NONE' }, status: 'ACTIVE' }, CLI_ACTOR);

  const police = { code: 'U_HHHT_JJZD', name: '呼和浩特市公安局交通管理支队' };
  const cityManagement = { code: 'U_XCQ_CGZF', name: '呼和浩特市新城区城市管理综合执法局' };
  const policeCaller = await partyWithKey({ role: 'unit', code: police.code, name: police.name, regionCode: '150100' });
  const cityCaller = await partyWithKey({ role: 'unit', code: cityManagement.code, name: cityManagement.name, regionCode: '150102' });
  await catalogue.putUnitItems(police.code, { itemCodes: [ITEM.licence, ITEM.trafficFine] }, CLI_ACTOR);
  await catalogue.putUnitItems(cityManagement.code, { itemCodes: [ITEM.streetFine, ITEM.roadFee, ITEM.waste] }, CLI_ACTOR);

  /** Services whose business clock stands `daysAgo` days back: a notice issued then. */
  async function servicesDaysAgo(daysAgo: number): Promise<Services> {
    return daysAgo === 0 ? services : buildServices({ db: services.deps.db, config, clocks: { real: clocks.real, business: fixedClock(new Date(now.getTime() - daysAgo * DAY_MS)) }, log });
  }
  async function issue(by: { partyId: string }, daysAgo: number, input: CreateNoticeInput): Promise<string> {
    const issuer = await servicesDaysAgo(daysAgo);
    const created = await issuer.notices.createNotice(by, input);
    return created.notice.payCode;
  }

  const onTime = await issue(policeCaller, 0, {
    bizRef: 'JJ-2026-000101',
    noticeType: 2,
    payer: { name: '王建国', idNumber: '150102198503150017', mobile: '13804710001' },
    items: [{ itemCode: ITEM.trafficFine, amount: '200.00' }, { itemCode: ITEM.licence, amount: '10.00' }],
    dueDate: addDays(today, 15),
    remark: '闯红灯（违法代码 1625）',
  });
  const late = await issue(policeCaller, 20, {
    bizRef: 'JJ-2026-000087',
    noticeType: 2,
    payer: { name: '阿拉坦·巴根' },
    items: [{ itemCode: ITEM.trafficFine, amount: '200.00' }],
    dueDate: addDays(today, -12),
    remark: '超速 20% 以上未达 50%',
  });
  const roadFee = await issue(cityCaller, 0, {
    bizRef: 'CG-2026-ZY-0042',
    noticeType: 1,
    payer: { name: '呼和浩特市青城建筑工程有限公司' },
    items: [{ itemCode: ITEM.roadFee, amount: '1200.00' }, { itemCode: ITEM.waste, amount: '360.00' }],
    dueDate: addDays(today, 30),
  });
  const toPay = await issue(cityCaller, 0, {
    bizRef: 'CG-2026-ZY-0043',
    noticeType: 1,
    payer: { name: '李秀英' },
    items: [{ itemCode: ITEM.roadFee, amount: '800.00' }],
    dueDate: addDays(today, 30),
  });
  const toVoid = await issue(cityCaller, 0, {
    bizRef: 'CG-2026-CF-0311',
    noticeType: 2,
    payer: { name: '赵磊' },
    items: [{ itemCode: ITEM.streetFine, amount: '500.00' }],
    dueDate: addDays(today, 15),
  });
  await services.notices.voidNotice(cityCaller, toVoid, '当事人已当场改正，撤销处罚决定');
  const toExpire = await issue(cityCaller, 40, {
    bizRef: 'CG-2026-CF-0107',
    noticeType: 2,
    payer: { name: '刘芳' },
    items: [{ itemCode: ITEM.streetFine, amount: '300.00' }],
    dueDate: addDays(today, -35),
    expireDate: addDays(today, -30),
  });
  await expireNotices(services.deps.db, { today, at: now });

  // The paid notice: paid by the sandbox agency over HTTP, signed, as any agency pays.
  const sandbox = new SandboxAgency({ db: services.deps.db, clocks, log, selfUrl: () => options.selfUrl });
  const credentials = await sandbox.credentials();
  if (credentials === undefined) throw new Error('invariant broken: the sandbox agency was registered a moment ago');
  const verification = await sandbox.verify(credentials, toPay);
  const amountDue = (verification.body as { amountDue?: string } | undefined)?.amountDue;
  if (verification.status !== 200 || amountDue === undefined) throw new Error(`demo seed: verifying ${toPay} through the sandbox answered HTTP ${verification.status}`);
  const paid = await sandbox.pay(credentials, { agencyTxnId: sandbox.newAgencyTxnId(), payCode: toPay, amount: amountDue });
  if (paid.status !== 201) throw new Error(`demo seed: the sandbox's posting answered HTTP ${paid.status}: ${JSON.stringify(paid.body)}`);

  const shown: Array<{ payCode: string; payerName: string; unitName: string; about: string }> = [
    { payCode: onTime, payerName: '王建国', unitName: police.name, about: '未缴，两个项目，期限内：可以在线缴纳' },
    { payCode: late, payerName: '阿拉坦·巴根', unitName: police.name, about: '未缴，已逾期 12 天：应缴金额含加处罚款（每日 3%）' },
    { payCode: roadFee, payerName: '呼和浩特市青城建筑工程有限公司', unitName: cityManagement.name, about: '未缴，单位缴款人，滞纳金每日 0.5‰' },
    { payCode: toPay, payerName: '李秀英', unitName: cityManagement.name, about: '已缴（由沙箱代收机构缴纳）：可查看电子票据' },
    { payCode: toVoid, payerName: '赵磊', unitName: cityManagement.name, about: '已作废：无需缴纳' },
    { payCode: toExpire, payerName: '刘芳', unitName: cityManagement.name, about: '已过期：不能在线缴纳' },
  ];
  const notices: DemoNotice[] = [];
  for (const notice of shown) {
    const wire = await services.notices.verifyNotice(notice.payCode, undefined);
    notices.push({ payCode: notice.payCode, payerName: notice.payerName, status: wire.status, amountDue: wire.amountDue, about: notice.about, unitName: notice.unitName });
  }
  log.info({ notices: notices.length }, 'demo world built');
  return { portalUrl: `${config.publicBaseUrl}/pay`, notices, parties: registered };
}

/** The output for a person: what to open and what to type. */
export function demoWorldText(world: DemoWorld): string {
  const group = (code: string): string => code.replace(/(.{4})(?=.)/g, '$1 ');
  const lines = [
    '演示数据已就绪 / The demo world is ready.',
    '',
    `打开 / Open:  ${world.portalUrl}`,
    '输入缴款码和缴款人姓名 / Type a payment code and the payer\'s name:',
    '',
  ];
  for (const notice of world.notices) {
    lines.push(`  ${group(notice.payCode)}   ${notice.payerName}`);
    lines.push(`      ${notice.status}, 应缴 ${notice.amountDue} 元 — ${notice.about}`);
  }
  lines.push('', '在线缴费时选择「沙箱代收机构」，在收银台点「确认支付」，即回到电子票据页。');
  lines.push('Pay through 沙箱代收机构 (the sandbox agency): confirm on its checkout and you land on the signed e-receipt.');
  lines.push('', '演示机构 / Demo parties (private keys for signed API calls):');
  for (const party of world.parties) lines.push(`  ${party.role.padEnd(7)} ${party.code.padEnd(20)} appId ${party.appId}${party.privateKeyFile ? `  key ${party.privateKeyFile}` : ''}`);
  return `${lines.join('\n')}\n`;
}

/** Listens on a free loopback port for the seed's own signed HTTP calls. */
export async function listenOnLoopback(runtime: Runtime): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(runtime.app.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('a TCP server has a port');
  runtime.setListeningAddress(address);
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
