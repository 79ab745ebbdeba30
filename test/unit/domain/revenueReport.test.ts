import { Decimal } from '../../../src/domain/money';
import { assembleRevenueRows, parseRevenueReportQuery, revenueReportCsv, UTF8_BOM } from '../../../src/domain/revenueReport';

describe('parseRevenueReportQuery', () => {
  it('takes dates, a comma list of distinct keys and a format', () => {
    expect(parseRevenueReportQuery({ from: '2026-11-01', to: '2026-11-30', groupBy: 'unit,item', format: 'csv' })).toEqual({ from: '2026-11-01', to: '2026-11-30', groupBy: ['unit', 'item'], format: 'csv' });
    expect(parseRevenueReportQuery({ from: '2026-11-01', to: '2026-11-01' })).toEqual({ from: '2026-11-01', to: '2026-11-01', groupBy: [], format: 'json' });
  });

  it('names every bad parameter', () => {
    const problems = (query: Record<string, unknown>) => {
      try {
        parseRevenueReportQuery(query);
        return [];
      } catch (error) {
        return ((error as { details: { fields: Array<{ path: string }> } }).details.fields).map((field) => field.path);
      }
    };
    expect(problems({ to: '2026-13-01', groupBy: 'item,nope,item', format: 'xlsx' })).toEqual(['/query/from', '/query/to', '/query/groupBy', '/query/groupBy', '/query/format']);
    expect(problems({ from: '2026-11-02', to: '2026-11-01' })).toEqual(['/query/from']);
  });
});

describe('assembleRevenueRows and the CSV', () => {
  const rows = assembleRevenueRows(['item'], {
    collected: [
      { group: { itemCode: 'B', itemName: '=SUM(A1)' }, paymentCount: 2, collected: '10.00' },
      { group: { itemCode: 'A', itemName: '收费, "甲"' }, paymentCount: 1, collected: '5.00' },
    ],
    settled: [
      { group: { itemCode: 'A' }, budgetLevel: 2, settled: '2.00' },
      { group: { itemCode: 'A' }, budgetLevel: 3, settled: '3.00' },
    ],
    // An agency refund of B, and a bank refund of A that took back 0.40 and 0.61 of its recognised levels.
    refunded: [{ group: { itemCode: 'B' }, refunded: new Decimal('1.25') }],
    refundedShares: [
      { group: { itemCode: 'A' }, budgetLevel: 2, refunded: '0.40' },
      { group: { itemCode: 'A' }, budgetLevel: 3, refunded: '0.61' },
    ],
  });

  const zeros = { '1': '0.00', '2': '0.00', '3': '0.00', '4': '0.00', '5': '0.00' };

  it('puts each group together, sorted by code, net and settled derived, byLevel net of what bank refunds took back', () => {
    expect(rows).toEqual([
      { itemCode: 'A', itemName: '收费, "甲"', paymentCount: 1, collected: '5.00', refunded: '1.01', writtenOff: '0.00', net: '3.99', settled: '5.00', byLevel: { ...zeros, '2': '1.60', '3': '2.39' }, refundedByLevel: { ...zeros, '2': '0.40', '3': '0.61' } },
      { itemCode: 'B', itemName: '=SUM(A1)', paymentCount: 2, collected: '10.00', refunded: '1.25', writtenOff: '0.00', net: '8.75', settled: '0.00', byLevel: zeros, refundedByLevel: zeros },
    ]);
  });

  it('writes a BOM, a header, quoted fields and no formulas', () => {
    expect(revenueReportCsv(['item'], rows)).toBe(
      `${UTF8_BOM}itemCode,itemName,paymentCount,collected,refunded,net,settled,byLevel.1,byLevel.2,byLevel.3,byLevel.4,byLevel.5,refundedByLevel.1,refundedByLevel.2,refundedByLevel.3,refundedByLevel.4,refundedByLevel.5,writtenOff\r\n` +
        'A,"收费, ""甲""",1,5.00,1.01,3.99,5.00,0.00,1.60,2.39,0.00,0.00,0.00,0.40,0.61,0.00,0.00,0.00\r\n' +
        "B,'=SUM(A1),2,10.00,1.25,8.75,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00\r\n",
    );
  });

  it('writes a code of digits only as text, so a spreadsheet keeps every digit (decision 0209)', () => {
    // Opened as numbers, 6228480402564890018 would become 6228480402564890000 and 0103 would become 103.
    const groupBy = ['receivingAccount', 'incomeSortCode', 'region', 'budgetLevel'] as const;
    const digitRows = assembleRevenueRows(groupBy, {
      collected: [{ group: { receivingAccountNo: '6228480402564890018', incomeSortCode: '0103', regionCode: '150102', budgetLevel: 3 }, paymentCount: 1, collected: '5.00' }],
      settled: [],
      refunded: [],
      refundedShares: [],
    });
    expect(revenueReportCsv(groupBy, digitRows).split('\r\n')[1]).toBe('"=""6228480402564890018""","=""0103""","=""150102""",3,1,5.00,0.00,5.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00');
    // A code with a letter is left as it is; one that starts like a formula still gets its quote.
    const mixed = assembleRevenueRows(['receivingAccount'], {
      collected: [
        { group: { receivingAccountNo: 'NMG_FISCAL_001' }, paymentCount: 1, collected: '1.00' },
        { group: { receivingAccountNo: '-1' }, paymentCount: 1, collected: '1.00' },
      ],
      settled: [],
      refunded: [],
      refundedShares: [],
    });
    expect(revenueReportCsv(['receivingAccount'], mixed).split('\r\n').slice(1, 3).map((line) => line.split(',')[0])).toEqual(["'-1", 'NMG_FISCAL_001']);
  });
});
