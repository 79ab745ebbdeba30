import vm from 'node:vm';
import { normalizePayCodeInput } from '../../../src/domain/payCodeInput';
import { PORTAL_JS } from '../../../src/http/portal/assets';

/**
 * The portal's script checks a payment code before the form is sent (docs/portal.md): it must
 * refuse exactly what the server refuses, or a code the server takes is stopped in the browser.
 * It runs here in a sandbox with the few elements of the lookup form it touches.
 */
interface FakeElement {
  id: string;
  value: string;
  hidden: boolean;
  textContent: string;
  attributes: Record<string, string>;
  listeners: Record<string, (event: { preventDefault(): void }) => void>;
  setAttribute(name: string, value: string): void;
  removeAttribute(name: string): void;
  addEventListener(type: string, listener: (event: { preventDefault(): void }) => void): void;
  focus(): void;
}

function element(id: string): FakeElement {
  return {
    id,
    value: '',
    hidden: false,
    textContent: '',
    attributes: {},
    listeners: {},
    setAttribute(name, value) {
      this.attributes[name] = value;
    },
    removeAttribute(name) {
      delete this.attributes[name];
    },
    addEventListener(type, listener) {
      this.listeners[type] = listener;
    },
    focus() {},
  };
}

/** Whether the page's script lets the form go with this code (and a name). */
function scriptSends(payCode: string): boolean {
  const elements = Object.fromEntries(['lookup-form', 'payCode', 'payerName', 'payCode-error', 'payerName-error'].map((id) => [id, element(id)]));
  vm.runInNewContext(PORTAL_JS, { document: { getElementById: (id: string) => elements[id] ?? null }, window: {} });
  elements.payCode!.value = payCode;
  elements.payerName!.value = '王建国';
  let prevented = false;
  elements['lookup-form']!.listeners.submit!({ preventDefault: () => (prevented = true) });
  return !prevented;
}

describe('the lookup form’s script', () => {
  const code = '15010026200000000107';
  const fullWidth = [...code].map((digit) => String.fromCharCode(0xff10 + Number(digit))).join('');
  const grouped = (text: string, separator: string): string => [...text].map((c, i) => (i > 0 && i % 4 === 0 ? separator + c : c)).join('');

  it.each([
    ['as printed, in groups of four', grouped(code, ' ')],
    ['with hyphens', grouped(code, '-')],
    ['in full-width digits with ideographic spaces', grouped(fullWidth, '\u3000')],
    // A Chinese input method in full-width mode types the hyphen full-width too.
    ['in full-width digits with full-width hyphens', grouped(fullWidth, '\uff0d')],
    ['with a small hyphen-minus', grouped(code, '\ufe63')],
  ])('sends a code the server takes: %s', (_what, typed) => {
    expect(normalizePayCodeInput(typed).problem).toBeUndefined();
    expect(scriptSends(typed)).toBe(true);
  });

  it.each([
    ['a wrong check digit', '15010026200000000108'],
    ['19 digits', code.slice(1)],
    ['an en dash, which the server does not take either', grouped(code, '\u2013')],
    ['nothing', ''],
  ])('stops what the server refuses: %s', (_what, typed) => {
    expect(normalizePayCodeInput(typed).problem).toBeDefined();
    expect(scriptSends(typed)).toBe(false);
  });
});
