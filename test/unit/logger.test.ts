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
