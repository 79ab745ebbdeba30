import type Koa from 'koa';
import { type FieldProblem, TongfuError } from '../domain/errors';

export const JSON_BODY_LIMIT_BYTES = 1024 * 1024;

/** Reads the raw body up to `limitBytes`; a larger one is 413 before or while it arrives. */
export async function readRawBody(ctx: Koa.Context, limitBytes: number): Promise<Buffer> {
  const declared = ctx.request.length;
  if (declared !== undefined && declared > limitBytes) throw payloadTooLarge(limitBytes);
  const chunks: Buffer[] = [];
  let receivedBytes = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    receivedBytes += chunk.length;
    if (receivedBytes > limitBytes) {
      // Stop reading: the rest of the body is discarded with the connection.
      ctx.set('Connection', 'close');
      throw payloadTooLarge(limitBytes);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, receivedBytes);
}

function payloadTooLarge(limitBytes: number): TongfuError {
  return new TongfuError('PAYLOAD_TOO_LARGE', `request body exceeds ${limitBytes} bytes`, { limitBytes });
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * A parsed JSON body and the problems of its text that the schema cannot see (docs/interface.md §3,
 * docs/lifecycle.md §3.6, contracts/decisions/0050-text-and-json-input.md): a duplicate member name
 * anywhere, and a string — value or member name — holding U+0000, another C0 control other
 * than TAB, LF and CR, or a lone surrogate. They are VALIDATION_FAILED problems, so the caller
 * lists them with the schema's after AMOUNT_INVALID and PAY_CODE_INVALID had their turn.
 */
export interface JsonBody {
  value: unknown;
  problems: FieldProblem[];
}

/** Parses a JSON body; broken JSON or bytes that are not UTF-8 are MALFORMED_JSON. */
export function parseJsonBody(raw: Buffer): JsonBody {
  let text: string;
  try {
    text = UTF8.decode(raw);
  } catch {
    throw new TongfuError('MALFORMED_JSON', 'request body is not valid UTF-8');
  }
  if (text.trim() === '') throw new TongfuError('MALFORMED_JSON', 'request body is empty; a JSON object is required');
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw new TongfuError('MALFORMED_JSON', `request body is not valid JSON: ${(error as Error).message}`);
  }
  const problems = duplicateKeyProblems(text);
  // Only an escape can put a control character or a lone surrogate into a parsed string: JSON
  // refuses raw controls, and the UTF-8 decoder refuses encoded surrogates. A body without a
  // backslash is clean as it stands.
  if (text.includes('\\')) collectTextProblems(value, problems);
  return { value, problems };
}

/**
 * At most this many problems of a kind are listed: a megabyte of repeats nested a megabyte deep
 * would otherwise answer each with a path as long as the nesting.
 */
export const PROBLEMS_OF_A_KIND_MAX = 100;

/** C0 controls but TAB (U+0009), LF (U+000A) and CR (U+000D). */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const FORBIDDEN_CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/;
/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** What is wrong with a string as text, or null when nothing is. */
export function textProblem(text: string): string | null {
  const control = FORBIDDEN_CONTROL.exec(text);
  if (control !== null) {
    const code = `U+${control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
    return `must not contain the control character ${code} (no C0 control but TAB, LF and CR is text)`;
  }
  const surrogate = LONE_SURROGATE.exec(text);
  if (surrogate !== null) {
    const code = `U+${surrogate[0].charCodeAt(0).toString(16).toUpperCase()}`;
    return `must not contain a lone surrogate (${code}): it is not Unicode text`;
  }
  return null;
}

function pointerToken(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * Checks every string of a parsed body — values and member names — in document order. Iterative:
 * a body may nest as deep as JSON.parse allows, far deeper than the call stack.
 */
function collectTextProblems(root: unknown, problems: FieldProblem[]): void {
  const limit = problems.length + PROBLEMS_OF_A_KIND_MAX;
  // Parallel stacks: what to look at, its path, and whether it is a member name's problem already found.
  const values: unknown[] = [root];
  const paths: string[] = [''];
  const nameProblems: boolean[] = [false];
  while (values.length > 0) {
    const value = values.pop();
    const path = paths.pop() as string;
    // The name itself is not repeated in the path: it is the thing that cannot be shown.
    const problem = nameProblems.pop() === true ? `a member name ${value as string}` : typeof value === 'string' ? textProblem(value) : null;
    if (problem !== null) {
      if (problems.length === limit) {
        problems.push({ path: '', problem: `more strings are not text than the ${PROBLEMS_OF_A_KIND_MAX} listed` });
        return;
      }
      problems.push({ path, problem });
    } else if (Array.isArray(value)) {
      for (let index = value.length - 1; index >= 0; index -= 1) {
        values.push(value[index]);
        paths.push(`${path}/${index}`);
        nameProblems.push(false);
      }
    } else if (typeof value === 'object' && value !== null) {
      const entries = Object.entries(value);
      for (let index = entries.length - 1; index >= 0; index -= 1) {
        const [key, member] = entries[index] as [string, unknown];
        const keyProblem = textProblem(key);
        values.push(keyProblem ?? member);
        paths.push(keyProblem === null ? `${path}/${pointerToken(key)}` : path);
        nameProblems.push(keyProblem !== null);
      }
    }
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

/** Up to this many names an object's names are compared in a list, cheaper than a set for the few of a request. */
const SMALL_OBJECT_MEMBERS = 16;

/** An open object or array while scanning: an object's member names so far, an array's index. */
interface Frame {
  object: boolean;
  /** The names so far: searched in a list while the object is small, in a set once it is not (linear either way). */
  names: string[] | null;
  nameSet: Set<string> | null;
  /** The member name being read (object) or the element's index (array). */
  name: string;
  index: number;
  expectName: boolean;
  /** This object's or array's JSON pointer, once a duplicate asked for it (it stays while the frame is open). */
  path: string | null;
}

/**
 * The duplicate member names of a JSON text that JSON.parse accepted (it keeps the last value
 * silently). One pass over the text, linear: strings are skipped with indexOf, a name is decoded
 * only when it has an escape, so `"n\u0061me"` and `"name"` are the same name. Each problem's
 * path is the JSON pointer of the repeated member; at most PROBLEMS_OF_A_KIND_MAX are listed.
 */
export function duplicateKeyProblems(text: string): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const stack: Frame[] = [];
  const length = text.length;
  let top: Frame | undefined;
  for (let i = 0; i < length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let end = text.indexOf('"', i + 1);
      for (;;) {
        let backslashes = 0;
        while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes += 1;
        if (backslashes % 2 === 0) break;
        end = text.indexOf('"', end + 1);
      }
      if (top !== undefined && top.object && top.expectName) {
        const raw = text.slice(i + 1, end);
        const name = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        top.expectName = false;
        top.name = name;
        if (top.names === null) top.names = [];
        if (top.nameSet === null && top.names.length >= SMALL_OBJECT_MEMBERS) top.nameSet = new Set(top.names);
        if (top.nameSet === null ? top.names.includes(name) : top.nameSet.has(name)) {
          if (problems.length === PROBLEMS_OF_A_KIND_MAX) {
            problems.push({ path: '', problem: `more duplicate keys than the ${PROBLEMS_OF_A_KIND_MAX} listed` });
            return problems;
          }
          problems.push({ path: `${openPath(stack)}/${pointerToken(name)}`, problem: 'is a duplicate key: a member name appears once in a JSON object' });
        } else if (top.nameSet === null) {
          top.names.push(name);
        } else {
          top.nameSet.add(name);
        }
      }
      i = end;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      top = { object: c === OPEN_OBJECT, names: null, nameSet: null, name: '', index: 0, expectName: c === OPEN_OBJECT, path: top === undefined ? '' : null };
      stack.push(top);
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      stack.pop();
      top = stack[stack.length - 1];
    } else if (c === COMMA && top !== undefined) {
      if (top.object) top.expectName = true;
      else top.index += 1;
    }
  }
  return problems;
}

/**
 * The JSON pointer of the innermost open object, built from the nearest open frame that knows its
 * own and kept on it and on its parent, so duplicates in one object or in its siblings do not
 * walk the nesting again.
 */
function openPath(stack: readonly Frame[]): string {
  const last = stack.length - 1;
  const top = stack[last] as Frame;
  if (top.path !== null) return top.path;
  let known = last - 1;
  while ((stack[known] as Frame).path === null) known -= 1;
  const segments: string[] = [];
  for (let index = known; index < last; index += 1) {
    const frame = stack[index] as Frame;
    segments.push(`/${frame.object ? pointerToken(frame.name) : frame.index}`);
  }
  const base = (stack[known] as Frame).path as string;
  const parent = stack[last - 1] as Frame;
  if (parent.path === null) parent.path = base + segments.slice(0, -1).join('');
  top.path = parent.path + (segments[segments.length - 1] as string);
  return top.path;
}

/** The media type without parameters, lower case; '' when absent. */
export function mediaType(ctx: Koa.Context): string {
  const header = ctx.get('Content-Type');
  return (header.split(';')[0] ?? '').trim().toLowerCase();
}

/**
 * True when the Content-Type names no charset or UTF-8: every body is read as UTF-8 (docs/interface.md §1),
 * so a body declared in another charset is refused (415) rather than misread.
 */
export function declaresUtf8OrNoCharset(ctx: Koa.Context): boolean {
  for (const parameter of ctx.get('Content-Type').split(';').slice(1)) {
    const [name, ...rest] = parameter.split('=');
    if ((name ?? '').trim().toLowerCase() !== 'charset') continue;
    const value = rest.join('=').trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    if (value !== 'utf-8' && value !== 'utf8') return false;
  }
  return true;
}
