import type Koa from 'koa';
import { TongfuError } from '../domain/errors';

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

/** Parses a JSON body; broken JSON or bytes that are not UTF-8 are MALFORMED_JSON. */
export function parseJsonBody(raw: Buffer): unknown {
  let text: string;
  try {
    text = UTF8.decode(raw);
  } catch {
    throw new TongfuError('MALFORMED_JSON', 'request body is not valid UTF-8');
  }
  if (text.trim() === '') throw new TongfuError('MALFORMED_JSON', 'request body is empty; a JSON object is required');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new TongfuError('MALFORMED_JSON', `request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** The media type without parameters, lower case; '' when absent. */
export function mediaType(ctx: Koa.Context): string {
  const header = ctx.get('Content-Type');
  return (header.split(';')[0] ?? '').trim().toLowerCase();
}
