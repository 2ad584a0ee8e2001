/**
 * A streaming multipart/form-data parser (RFC 7578): no part is ever held whole in memory. For each part
 * `onPart` is called with its headers and a Readable of its body; the parser keeps feeding that body (with
 * back-pressure) and waits for `onPart` to settle before the next part. A body that ends before the
 * closing boundary fails the current part's stream (so a truncated upload stores nothing).
 */
import { PassThrough, type Readable } from 'node:stream';
import { Code, FlotillaError } from '../../core/errors.js';

export interface FormPart {
  /** The form field name. */
  name: string;
  /** Set for a file field. */
  filename?: string;
  contentType?: string;
  body: Readable;
}

const MAX_HEADER_BYTES = 16 * 1024;

export function boundaryOf(contentType: string | undefined): string {
  const m = /^multipart\/form-data\s*;(?:.*;)?\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType ?? '');
  if (m === null) throw new FlotillaError(Code.INVALID_ARGUMENT, 'expected Content-Type: multipart/form-data with a boundary (curl -F ...)');
  return (m[1] ?? m[2]) as string;
}

function parseHeaders(text: string): { name: string; filename?: string; contentType?: string } {
  let name: string | undefined;
  let filename: string | undefined;
  let contentType: string | undefined;
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const h = line.slice(0, i).trim().toLowerCase();
    const v = line.slice(i + 1).trim();
    if (h === 'content-disposition') {
      const n = /(?:^|;)\s*name="((?:[^"\\]|\\.)*)"/i.exec(v);
      const f = /(?:^|;)\s*filename="((?:[^"\\]|\\.)*)"/i.exec(v);
      name = n?.[1];
      filename = f?.[1]?.replace(/\\(.)/g, '$1');
    } else if (h === 'content-type') contentType = v;
  }
  if (name === undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, 'a form part has no Content-Disposition name');
  return { name, ...(filename !== undefined ? { filename } : {}), ...(contentType !== undefined ? { contentType } : {}) };
}

export async function parseMultipart(source: Readable, boundary: string, onPart: (part: FormPart) => Promise<void>): Promise<void> {
  const delim = Buffer.from(`\r\n--${boundary}`);
  // The body starts with "--boundary": pretend a CRLF came before it.
  let buf: Buffer = Buffer.from('\r\n');
  let state: 'preamble' | 'headers' | 'body' | 'done' = 'preamble';
  let current: { stream: PassThrough; done: Promise<void> } | undefined;
  const write = async (data: Buffer): Promise<void> => {
    const s = current?.stream;
    if (s === undefined || s.destroyed || data.length === 0) return;
    if (!s.write(data)) {
      await new Promise<void>((res) => {
        const f = (): void => {
          s.off('drain', f).off('close', f);
          res();
        };
        s.once('drain', f).once('close', f);
      });
    }
  };
  const finishPart = async (): Promise<void> => {
    if (current === undefined) return;
    current.stream.end();
    const c = current;
    current = undefined;
    await c.done;
  };
  try {
    for await (const chunk of source) {
      buf = buf.length === 0 ? (chunk as Buffer) : Buffer.concat([buf, chunk as Buffer]);
      for (;;) {
        if (state === 'done') break;
        if (state === 'preamble' || state === 'body') {
          const i = buf.indexOf(delim);
          if (i < 0) {
            // Keep a tail that may hold the start of a delimiter.
            const keep = Math.min(buf.length, delim.length - 1);
            if (state === 'body') await write(buf.subarray(0, buf.length - keep));
            buf = buf.subarray(buf.length - keep);
            break;
          }
          if (state === 'body') {
            await write(buf.subarray(0, i));
            buf = buf.subarray(i);
            await finishPart();
            state = 'preamble';
            continue;
          }
          // After the delimiter: "--" (end) or CRLF (next part).
          if (buf.length < i + delim.length + 2) break;
          const after = buf.subarray(i + delim.length, i + delim.length + 2).toString('latin1');
          if (after === '--') {
            state = 'done';
            buf = Buffer.alloc(0);
            break;
          }
          if (after !== '\r\n') throw new FlotillaError(Code.INVALID_ARGUMENT, 'malformed multipart body (bad boundary line)');
          buf = buf.subarray(i + delim.length + 2);
          state = 'headers';
        }
        if (state === 'headers') {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) {
            if (buf.length > MAX_HEADER_BYTES) throw new FlotillaError(Code.INVALID_ARGUMENT, 'multipart part headers are too long');
            break;
          }
          const h = parseHeaders(buf.subarray(0, end).toString('utf8'));
          buf = buf.subarray(end + 4);
          const stream = new PassThrough({ highWaterMark: 1024 * 1024 });
          const done = onPart({ ...h, body: stream });
          done.catch(() => stream.resume());
          current = { stream, done };
          state = 'body';
          // The body's end is found by its delimiter, which begins with CRLF: search again from here.
          buf = Buffer.concat([Buffer.alloc(0), buf]);
        }
      }
    }
    if (state !== 'done') throw new FlotillaError(Code.INVALID_ARGUMENT, 'the multipart body ended before its closing boundary (truncated upload?)');
  } catch (err) {
    const e = FlotillaError.from(err, Code.CANCELLED);
    if (current !== undefined) {
      current.stream.destroy(e);
      await current.done.catch(() => undefined);
    }
    throw e;
  }
}
