/**
 * Online payment offered by an agency on the payer portal (contracts/decisions/0080): the name and
 * logo text the portal shows, and the checkout URL template the payer is sent to.
 *
 * A template holds `{payCode}` and `{amount}` (both required) and may hold `{returnUrl}`: where the
 * agency sends the payer back when the payment is done. Filled in, it is an absolute http(s) URL,
 * or a path on this service (starting with one `/`) for an agency the service hosts itself, the
 * sandbox. Values are percent-encoded where they are put, so a template cannot be broken out of.
 */

export interface OnlinePayment {
  displayName: string;
  logoText: string;
  checkoutUrlTemplate: string;
}

export const CHECKOUT_URL_TEMPLATE_LENGTH_MAX = 2048;
export const DISPLAY_NAME_LENGTH_MAX = 100;
/** The logo is text in a small square: a few characters. */
export const LOGO_TEXT_LENGTH_MAX = 4;

const REQUIRED_PLACEHOLDERS = ['{payCode}', '{amount}'] as const;
const PLACEHOLDER = /\{([^{}]*)\}/g;
const KNOWN_PLACEHOLDERS = new Set(['payCode', 'amount', 'returnUrl']);

export interface CheckoutValues {
  payCode: string;
  /** Money as its wire string, e.g. "218.00". */
  amount: string;
  /** Absolute URL the agency returns the payer to. */
  returnUrl: string;
}

/** The template with every placeholder replaced by its percent-encoded value. */
export function fillCheckoutUrl(template: string, values: CheckoutValues): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => {
    if (name === 'payCode') return encodeURIComponent(values.payCode);
    if (name === 'amount') return encodeURIComponent(values.amount);
    if (name === 'returnUrl') return encodeURIComponent(values.returnUrl);
    return whole;
  });
}

/** A path on this service: one leading slash, not `//host` (which a browser reads as another host). */
function isLocalPath(url: string): boolean {
  return url.startsWith('/') && !url.startsWith('//') && !url.startsWith('/\\');
}

/** What is wrong with a checkout URL template, or undefined when it is usable. */
export function checkoutUrlTemplateProblem(template: string): string | undefined {
  if (template.length > CHECKOUT_URL_TEMPLATE_LENGTH_MAX) return `must be at most ${CHECKOUT_URL_TEMPLATE_LENGTH_MAX} characters`;
  if (/[\s\p{Cc}]/u.test(template)) return 'must not contain white space or control characters';
  for (const placeholder of REQUIRED_PLACEHOLDERS) {
    if (!template.includes(placeholder)) return `must contain ${placeholder}`;
  }
  for (const match of template.matchAll(PLACEHOLDER)) {
    if (!KNOWN_PLACEHOLDERS.has(match[1] ?? '')) return `has an unknown placeholder ${match[0]}; the placeholders are {payCode}, {amount} and {returnUrl}`;
  }
  if (template.includes('#')) return 'must not have a fragment (#…)';
  const sample = fillCheckoutUrl(template, { payCode: '15010226100000000103', amount: '218.00', returnUrl: 'https://tongfu.example/pay/return' });
  if (/[{}]/.test(sample)) return 'must not contain { or } outside the placeholders';
  if (isLocalPath(sample)) return undefined;
  let url: URL;
  try {
    url = new URL(sample);
  } catch {
    return 'must be an absolute http:// or https:// URL, or a path on this service starting with /';
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') return 'must be an absolute http:// or https:// URL, or a path on this service starting with /';
  if (url.username !== '' || url.password !== '') return 'must not carry a user name or password';
  return undefined;
}

/** Problems of an onlinePayment object, as [field, problem] pairs relative to it. */
export function onlinePaymentProblems(value: OnlinePayment): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  if (value.displayName.trim() === '') problems.push(['displayName', 'must not be blank']);
  if (value.logoText.trim() === '') problems.push(['logoText', 'must not be blank']);
  if ([...value.logoText].length > LOGO_TEXT_LENGTH_MAX) problems.push(['logoText', `must be at most ${LOGO_TEXT_LENGTH_MAX} characters`]);
  const templateProblem = checkoutUrlTemplateProblem(value.checkoutUrlTemplate);
  if (templateProblem !== undefined) problems.push(['checkoutUrlTemplate', templateProblem]);
  return problems;
}
