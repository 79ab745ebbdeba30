import { escapeHtml, html, SafeHtml, trustedHtml } from '../../../src/http/portal/html';

// The portal's only way to put text into a page escapes it (src/http/portal/html.ts).

describe('html', () => {
  it('escapes every interpolated string, in text and in attributes', () => {
    const name = '<script>alert("x")</script>\'`&';
    expect(html`<p title="${name}">${name}</p>`.value).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&#96;&amp;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&#96;&amp;</p>',
    );
  });

  it('nests SafeHtml as it is, escapes arrays item by item, and drops null, undefined and false', () => {
    const inner = html`<b>${'<'}</b>`;
    expect(html`<div>${inner}${['<', inner]}${null}${undefined}${false}${0}</div>`.value).toBe('<div><b>&lt;</b>&lt;<b>&lt;</b>0</div>');
  });

  it('trusts only what is marked trusted', () => {
    expect(html`${trustedHtml('<svg/>')}`).toEqual(new SafeHtml('<svg/>'));
    expect(escapeHtml('<svg/>')).toBe('&lt;svg/&gt;');
  });
});
