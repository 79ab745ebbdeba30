import { Decimal } from '../../../src/domain/money';
import { lateFeeRuleText } from '../../../src/domain/lateFeeText';
import { amountInWords } from '../../../src/domain/moneyWords';
import { checkoutUrlTemplateProblem, fillCheckoutUrl, onlinePaymentProblems } from '../../../src/domain/onlinePayment';
import { groupPayCode, normalizePayCodeInput } from '../../../src/domain/payCodeInput';

// The rules behind what the payer portal shows and accepts (contracts/decisions/0080).

describe('normalizePayCodeInput', () => {
  it('accepts the code as people copy it: groups of four, full-width digits, hyphens, ideographic spaces', () => {
    const expected = { payCode: '15010226100000000103', problem: undefined };
    expect(normalizePayCodeInput('1501 0226 1000 0000 0103')).toEqual(expected);
    expect(normalizePayCodeInput(' 1501-0226-1000-0000-0103 ')).toEqual(expected);
    expect(normalizePayCodeInput('１５０１\u30000226 1000 0000 0103')).toEqual(expected);
  });

  it('names what is wrong: nothing, not 20 digits, check digits', () => {
    expect(normalizePayCodeInput('  ').problem).toBe('EMPTY');
    expect(normalizePayCodeInput('1501 0226').problem).toBe('NOT_20_DIGITS');
    expect(normalizePayCodeInput('1501022610000000010A').problem).toBe('NOT_20_DIGITS');
    expect(normalizePayCodeInput('15010226100000000104').problem).toBe('CHECK_DIGITS');
    // A swap of two neighbours is caught too.
    expect(normalizePayCodeInput('15010226100000000130').problem).toBe('CHECK_DIGITS');
  });

  it('groups a code by four for display', () => {
    expect(groupPayCode('15010226100000000103')).toBe('1501 0226 1000 0000 0103');
  });
});

describe('amountInWords', () => {
  it.each([
    ['0.00', '零元整'],
    ['0.05', '伍分'],
    ['0.50', '伍角整'],
    ['10.00', '壹拾元整'],
    ['218.00', '贰佰壹拾捌元整'],
    ['1001.50', '壹仟零壹元伍角整'],
    ['1010.05', '壹仟零壹拾元零伍分'],
    ['100001.00', '壹拾万零壹元整'],
    ['1560.00', '壹仟伍佰陆拾元整'],
    ['200000000.00', '贰亿元整'],
    ['1000000001.01', '壹拾亿零壹元零壹分'],
    ['1000000000000.00', '壹万亿元整'],
    ['9999999999999999.99', '玖仟玖佰玖拾玖万玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分'],
  ])('%s → %s', (amount, words) => {
    expect(amountInWords(amount)).toBe(words);
  });
});

describe('lateFeeRuleText', () => {
  it('says the rate in per mille and the cap against the principal', () => {
    expect(lateFeeRuleText({ type: 'DAILY_RATE', ratePerDay: new Decimal('0.03'), capRatio: new Decimal('1.00') })).toBe('每日按 30‰ 加收，最高不超过本金');
    expect(lateFeeRuleText({ type: 'DAILY_RATE', ratePerDay: new Decimal('0.0005'), capRatio: new Decimal('0.3') })).toBe('每日按 0.5‰ 加收，最高不超过本金的 30%');
    expect(lateFeeRuleText({ type: 'NONE' })).toBeUndefined();
  });
});

describe('checkout URL templates', () => {
  it('fill every placeholder percent-encoded, so a value cannot break out', () => {
    expect(fillCheckoutUrl('https://pay.example/c?code={payCode}&amt={amount}&back={returnUrl}', { payCode: '15010226100000000103', amount: '218.00', returnUrl: 'https://tongfu.example/pay/return?a=1&b=2' })).toBe(
      'https://pay.example/c?code=15010226100000000103&amt=218.00&back=https%3A%2F%2Ftongfu.example%2Fpay%2Freturn%3Fa%3D1%26b%3D2',
    );
  });

  it('accept an absolute http(s) URL and a path on this service', () => {
    expect(checkoutUrlTemplateProblem('https://pay.example/{payCode}/{amount}')).toBeUndefined();
    expect(checkoutUrlTemplateProblem('/sandbox/agency/checkout?payCode={payCode}&amount={amount}&returnUrl={returnUrl}')).toBeUndefined();
  });

  it.each([
    ['ftp://pay.example/{payCode}/{amount}', 'must be an absolute http:// or https:// URL, or a path on this service starting with /'],
    ['/\\evil.example/{payCode}/{amount}', 'must be an absolute http:// or https:// URL, or a path on this service starting with /'],
    ['https://pay.example/{payCode}/{amount}#frag', 'must not have a fragment (#…)'],
    ['https://pay.example/{payCode}/{amount}/{', 'must not contain { or } outside the placeholders'],
    [`https://pay.example/{payCode}/{amount}/${'x'.repeat(2048)}`, 'must be at most 2048 characters'],
  ])('refuse %s', (template, problem) => {
    expect(checkoutUrlTemplateProblem(template)).toBe(problem);
  });

  it('check the name and the logo text too', () => {
    expect(onlinePaymentProblems({ displayName: ' ', logoText: '太长的标志', checkoutUrlTemplate: 'https://p.example/{payCode}/{amount}' })).toEqual([
      ['displayName', 'must not be blank'],
      ['logoText', 'must be at most 4 characters'],
    ]);
  });
});
