import { Writable } from 'node:stream';
import { createLogger } from '../../src/logger';

describe('the logger', () => {
  it('writes JSON lines and redacts personal data and secrets wherever they are nested', () => {
    const lines: string[] = [];
    const log = createLogger('info', { write: (line: string) => lines.push(line) });
    log.child({ requestId: 'r-1' }).info(
      {
        payer: { name: '张三', idNumber: '11010519491231002X', mobile: '13800138000' },
        body: { payer: { name: '李四', idNumber: '110105194912310021', mobile: '13900139000' }, payerAccount: { accountNo: '6222000000000000' } },
        notice: { payerName: '王五' },
        privateKeyHex: 'a'.repeat(64),
        headers: { 'x-tongfu-signature': 'MEUCIQ==' },
      },
      'something happened',
    );
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] as string);
    expect(line).toMatchObject({ level: 'info', requestId: 'r-1', msg: 'something happened' });
    const text = lines[0] as string;
    for (const secret of ['张三', '李四', '王五', '11010519491231002X', '110105194912310021', '13800138000', '13900139000', '6222000000000000', 'aaaaaaaa', 'MEUCIQ==']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[REDACTED]');
  });
});

describe('the logger’s redaction at any depth', () => {
  function capture(): { log: ReturnType<typeof createLogger>; text: () => string } {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk.toString('utf8'));
        callback();
      },
    });
    return { log: createLogger('debug', stream), text: () => chunks.join('') };
  }

  const PERSONAL = {
    name: '赵六',
    idNumber: '110105199003077777',
    mobile: '13700137000',
    payerName: '孙七',
    accountNo: '6222021234567890123',
    payeeName: '周八',
    payeeAccountNo: '6217000011112222',
  };
  const SECRETS = Object.values(PERSONAL);

  it('redacts personal fields however deeply they are nested, in objects, arrays, errors and bindings', async () => {
    const { log, text } = capture();
    log.info({ request: { body: { payer: { name: PERSONAL.name, idNumber: PERSONAL.idNumber, mobile: PERSONAL.mobile } } } }, 'deep payer');
    log.info({ a: { b: { c: { d: { e: { notice: { payerName: PERSONAL.payerName } } } } } } }, 'deeper payerName');
    log.info({ request: { body: { payerAccount: { name: PERSONAL.name, accountNo: PERSONAL.accountNo, bankName: '中国工商银行' } } } }, 'payer account');
    log.info({ refunds: [{ refund: { payee: { name: PERSONAL.payeeName, accountNo: PERSONAL.payeeAccountNo } } }] }, 'payee in an array');
    log.info({ row: { payee_name: PERSONAL.payeeName, payee_account_no: PERSONAL.payeeAccountNo, payer_id_number: PERSONAL.idNumber } }, 'database row');
    log.child({ context: { body: { payer: { mobile: PERSONAL.mobile } } } }).warn('child bindings');
    const error = Object.assign(new Error('posting failed'), { details: { input: { payer: { idNumber: PERSONAL.idNumber } } } });
    log.error({ err: error, ctx: { nested: { err: error } } }, 'error with details');
    await new Promise((resolve) => setImmediate(resolve));
    const output = text();
    const lines = output.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toHaveLength(7);
    for (const secret of SECRETS) expect(output).not.toContain(secret);
    expect(lines[0]).toMatchObject({ msg: 'deep payer', request: { body: { payer: '[REDACTED]' } } });
    expect(lines[2]).toMatchObject({ request: { body: { payerAccount: '[REDACTED]' } } });
    expect(lines[6]).toMatchObject({ err: { message: 'posting failed', details: { input: { payer: '[REDACTED]' } } } });
    expect(String((lines[6] as { err: { stack: string } }).err.stack)).toContain('posting failed');
  });

  it('keeps what is not personal, masked forms included, and survives cycles', async () => {
    const { log, text } = capture();
    const cyclic: Record<string, unknown> = { payCode: '12345678901234567890' };
    cyclic.self = cyclic;
    log.info({ notice: { payerNameMasked: '*六', amount: '100.00', items: [{ itemName: '罚款' }] }, cyclic, at: new Date('2026-12-01T00:00:00Z') }, 'plain');
    await new Promise((resolve) => setImmediate(resolve));
    const line = JSON.parse(text()) as Record<string, unknown>;
    expect(line).toMatchObject({ notice: { payerNameMasked: '*六', amount: '100.00', items: [{ itemName: '罚款' }] }, cyclic: { payCode: '12345678901234567890', self: '[Circular]' }, at: '2026-12-01T00:00:00.000Z' });
  });
});
