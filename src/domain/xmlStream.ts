import { TongfuError } from './errors';
import { STATEMENT_PROBLEMS_MAX, type StatementProblem } from './statementFormats';

/**
 * A small streaming XML tokenizer for the subset of XML that bank statements use
 * (contracts/decisions/0136-camt053-statements.md): elements, attributes, text, CDATA,
 * comments and processing instructions, fed in chunks of any size and never holding more than
 * the unfinished markup or text between two tags. It is no validating parser, and on purpose
 * knows nothing of DTDs: a `<!DOCTYPE` (or any other `<!` declaration but a comment or CDATA)
 * is refused, so no entity can be declared or expanded; of the entity references only the five
 * predefined ones and character references are known, anything else is refused.
 *
 * Every refusal is `STATEMENT_MALFORMED`, with the 1-based line it was found on (`details.lines`).
 */

/** One element's start, as the consumer sees it: the local name (prefix dropped) and the attributes. */
export interface XmlStart {
  name: string;
  /** The qualified name as written (`ns:Document`). */
  qName: string;
  attributes: Record<string, string>;
}

export interface XmlHandler {
  start(element: XmlStart): void;
  /** The text of the element just closed (concatenated, entities decoded) is given to `end`. */
  end(name: string, text: string): void;
}

/** Markup (a tag, a comment, a declaration) longer than this is refused: a file is not a blob. */
export const XML_MARKUP_CHARS_MAX = 64 * 1024;
/** Text of one element longer than this is refused. */
export const XML_TEXT_CHARS_MAX = 64 * 1024;
/** Elements nested deeper than this are refused. */
export const XML_DEPTH_MAX = 64;

const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;
const ATTRIBUTE = /([A-Za-z_][A-Za-z0-9_.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

/**
 * A refused statement file, in the catalogue's shape of STATEMENT_MALFORMED (docs/interface.md §3,
 * as the TFS1 and APPBILL loader answers it): `details.lines` — each problem with its 1-based line,
 * the first STATEMENT_PROBLEMS_MAX — and `details.problemCount`, all problems found. `extra`
 * details (a currency, an encoding) stand beside them.
 */
export function statementMalformed(problems: readonly StatementProblem[], problemCount: number, extra?: Record<string, unknown>): TongfuError {
  const listed = [...problems].sort((a, b) => a.lineNo - b.lineNo).slice(0, STATEMENT_PROBLEMS_MAX);
  const first = listed[0];
  const message = problemCount === 1 && first !== undefined ? `line ${first.lineNo}: ${first.problem}` : `the statement has ${problemCount} problems${first ? `; the first, line ${first.lineNo}: ${first.problem}` : ''}`;
  return new TongfuError('STATEMENT_MALFORMED', message, { ...extra, lines: listed, problemCount });
}

/** The one problem a statement file was refused for, on the line it was found on. */
export function malformed(lineNo: number, problem: string, extra?: Record<string, unknown>): TongfuError {
  return statementMalformed([{ lineNo, problem }], 1, extra);
}

function localName(qName: string): string {
  const colon = qName.indexOf(':');
  return colon < 0 ? qName : qName.slice(colon + 1);
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** The characters an XML document may not hold (docs/settlement.md §2), apart from surrogates (strict UTF-8 decoding has none). */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

function isXmlChar(code: number): boolean {
  return code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
}

function codePointName(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Decodes the predefined entities and character references; any other reference is refused, and
 * so is a character XML does not allow, written or referenced (a C0 control but TAB, LF and CR,
 * docs/settlement.md §2): it would reach a posting's memo or counterparty, text a JSON posting may
 * not carry (docs/interface.md §1).
 */
export function decodeEntities(text: string, line: number): string {
  const raw = NOT_XML_CHAR.exec(text);
  if (raw !== null) throw malformed(line, `the character ${codePointName(raw[0].codePointAt(0) as number)} is not allowed in XML`);
  if (!text.includes('&')) return text;
  return text.replace(/&([^;&]{0,16});?/g, (whole, body: string) => {
    if (!whole.endsWith(';')) throw malformed(line, `a bare '&' (entities are not allowed)`);
    const named = PREDEFINED[body];
    if (named !== undefined) return named;
    const numeric = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(body);
    if (numeric) {
      const code = numeric[1] !== undefined ? parseInt(numeric[1], 16) : parseInt(numeric[2] as string, 10);
      if (!isXmlChar(code)) throw malformed(line, `character reference ${whole} is not a character XML allows`);
      return String.fromCodePoint(code);
    }
    throw malformed(line, `entity reference ${whole} is refused (only the predefined entities are known)`);
  });
}

export class XmlStreamTokenizer {
  private buffer = '';
  private line = 1;
  private readonly stack: Array<{ qName: string; text: string }> = [];
  private sawRoot = false;
  private closedRoot = false;
  private sawDeclaration = false;
  private started = false;

  constructor(private readonly handler: XmlHandler) {}

  /** The line the tokenizer has reached (for messages). */
  get currentLine(): number {
    return this.line;
  }

  feed(chunk: string): void {
    this.buffer = this.buffer.length === 0 ? chunk : this.buffer + chunk;
    let pos = 0;
    const buf = this.buffer;
    for (;;) {
      const lt = buf.indexOf('<', pos);
      if (lt < 0) {
        this.text(buf.slice(pos));
        pos = buf.length;
        break;
      }
      if (lt > pos) this.text(buf.slice(pos, lt));
      pos = lt;
      const consumed = this.markup(buf, pos);
      if (consumed === 0) break;
      pos += consumed;
    }
    this.buffer = buf.slice(pos);
    if (this.buffer.length > XML_MARKUP_CHARS_MAX) throw malformed(this.line, `markup longer than ${XML_MARKUP_CHARS_MAX} characters`);
  }

  end(): void {
    if (this.buffer.length > 0) throw malformed(this.line, `the document ends inside markup`);
    if (!this.sawRoot || !this.closedRoot) throw malformed(this.line, 'the document has no complete root element');
  }

  private text(raw: string): void {
    if (raw.length === 0) return;
    this.countLines(raw);
    const top = this.stack[this.stack.length - 1];
    if (top === undefined) {
      if (raw.trim().length > 0) throw malformed(this.line, `text outside the root element`);
      return;
    }
    // Text is kept raw until the element closes (an entity may straddle two chunks).
    top.text += raw;
    if (top.text.length > XML_TEXT_CHARS_MAX) throw malformed(this.line, `text longer than ${XML_TEXT_CHARS_MAX} characters`);
  }

  private countLines(text: string): void {
    let at = text.indexOf('\n');
    while (at >= 0) {
      this.line += 1;
      at = text.indexOf('\n', at + 1);
    }
  }

  /** Consumes the markup at `pos` (which is '<'); 0 when more input is needed. */
  private markup(buf: string, pos: number): number {
    const next = buf.charCodeAt(pos + 1);
    if (Number.isNaN(next)) return 0;
    if (next === 0x3f /* ? */) {
      const close = buf.indexOf('?>', pos + 2);
      if (close < 0) return 0;
      const body = buf.slice(pos + 2, close);
      this.processingInstruction(body);
      this.countLines(body);
      this.started = true;
      return close + 2 - pos;
    }
    if (next === 0x21 /* ! */) {
      if (buf.length < pos + 9) {
        // Enough to tell a comment, CDATA or a declaration apart.
        if (!'<!--'.startsWith(buf.slice(pos, pos + 4)) && !'<![CDATA['.startsWith(buf.slice(pos, pos + 9))) this.refuseDeclaration(buf.slice(pos));
        return 0;
      }
      if (buf.startsWith('<!--', pos)) {
        const close = buf.indexOf('-->', pos + 4);
        if (close < 0) return 0;
        this.countLines(buf.slice(pos, close));
        return close + 3 - pos;
      }
      if (buf.startsWith('<![CDATA[', pos)) {
        const close = buf.indexOf(']]>', pos + 9);
        if (close < 0) return 0;
        const content = buf.slice(pos + 9, close);
        const top = this.stack[this.stack.length - 1];
        if (top === undefined) throw malformed(this.line, `CDATA outside the root element`);
        // CDATA is literal: escape its '&' so that decoding at the element's end gives it back.
        top.text += content.replace(/&/g, '&amp;');
        this.countLines(content);
        return close + 3 - pos;
      }
      this.refuseDeclaration(buf.slice(pos, pos + 16));
    }
    // A tag: find its '>' outside quoted attribute values.
    let quote = 0;
    let i = pos + 1;
    for (; i < buf.length; i += 1) {
      const c = buf.charCodeAt(i);
      if (quote !== 0) {
        if (c === quote) quote = 0;
      } else if (c === 0x22 || c === 0x27) {
        quote = c;
      } else if (c === 0x3e /* > */) {
        break;
      } else if (c === 0x3c /* < */) {
        throw malformed(this.line, `'<' inside a tag`);
      }
    }
    if (i >= buf.length) return 0;
    const tag = buf.slice(pos + 1, i);
    this.tag(tag);
    this.countLines(tag);
    return i + 1 - pos;
  }

  private refuseDeclaration(start: string): never {
    throw malformed(this.line, `a DOCTYPE or other declaration is refused (${JSON.stringify(start.slice(0, 16))}…): no DTD, no entities`);
  }

  private processingInstruction(body: string): void {
    if (/^xml(\s|$)/.test(body)) {
      if (this.started || this.sawDeclaration) throw malformed(this.line, `the XML declaration must come first`);
      this.sawDeclaration = true;
      const encoding = /encoding\s*=\s*["']([^"']+)["']/.exec(body)?.[1];
      if (encoding !== undefined && !/^utf-?8$/i.test(encoding)) throw malformed(this.line, `the file must be UTF-8, it declares ${encoding}`, { encoding });
    }
  }

  private tag(tag: string): void {
    this.started = true;
    if (tag.startsWith('/')) {
      const qName = tag.slice(1).trim();
      const open = this.stack.pop();
      if (open === undefined || open.qName !== qName) throw malformed(this.line, `</${qName}> does not close ${open ? `<${open.qName}>` : 'anything'}`);
      if (this.stack.length === 0) this.closedRoot = true;
      this.handler.end(localName(qName), decodeEntities(open.text, this.line));
      return;
    }
    const selfClosing = tag.endsWith('/');
    const inner = selfClosing ? tag.slice(0, -1) : tag;
    const nameEnd = inner.search(/[\s]/);
    const qName = nameEnd < 0 ? inner : inner.slice(0, nameEnd);
    if (!NAME.test(qName)) throw malformed(this.line, `<${qName.slice(0, 32)}> is not an element name`);
    if (this.stack.length === 0) {
      if (this.sawRoot) throw malformed(this.line, `a second root element`);
      this.sawRoot = true;
    }
    if (this.stack.length >= XML_DEPTH_MAX) throw malformed(this.line, `elements nested deeper than ${XML_DEPTH_MAX}`);
    const attributes: Record<string, string> = {};
    if (nameEnd >= 0) {
      const rest = inner.slice(nameEnd);
      ATTRIBUTE.lastIndex = 0;
      let match: RegExpExecArray | null;
      while ((match = ATTRIBUTE.exec(rest)) !== null) {
        const name = match[1] as string;
        if (Object.prototype.hasOwnProperty.call(attributes, name)) throw malformed(this.line, `attribute ${name} twice`);
        attributes[name] = decodeEntities(match[2] ?? match[3] ?? '', this.line);
      }
      if (rest.replace(ATTRIBUTE, '').trim().length > 0) throw malformed(this.line, `<${qName}> has malformed attributes`);
    }
    // Only leaves' text is kept: a parent's whitespace between its children is dropped, so
    // text never accumulates over a whole statement.
    const parent = this.stack[this.stack.length - 1];
    if (parent !== undefined) parent.text = '';
    this.stack.push({ qName, text: '' });
    this.handler.start({ name: localName(qName), qName, attributes });
    if (selfClosing) {
      this.stack.pop();
      if (this.stack.length === 0) this.closedRoot = true;
      this.handler.end(localName(qName), '');
    }
  }
}
