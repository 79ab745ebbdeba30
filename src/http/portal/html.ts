/**
 * HTML by template literals with one strict rule: every interpolated value is escaped unless it
 * is `SafeHtml`, which only `html` itself (and `trustedHtml`, for markup a library built from
 * our own data, such as the QR code's SVG) make. There is no other way to put text into a page.
 */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Text as HTML: safe in element content and in quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (character) => ESCAPES[character] as string);
}

type Interpolated = SafeHtml | string | number | null | undefined | false | readonly Interpolated[];

function render(value: Interpolated): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map((item: Interpolated) => render(item)).join('');
  return escapeHtml(String(value));
}

/** `html\`<p>${text}</p>\`` → SafeHtml with `text` escaped. */
export function html(strings: TemplateStringsArray, ...values: Interpolated[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, index) => {
    out += render(value) + (strings[index + 1] ?? '');
  });
  return new SafeHtml(out);
}

/** Markup built by code we trust from values it escapes itself; never for input. */
export function trustedHtml(markup: string): SafeHtml {
  return new SafeHtml(markup);
}
