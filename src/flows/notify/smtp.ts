/**
 * A minimal SMTP client on node:net (RFC 5321 without TLS or AUTH): EHLO, MAIL FROM, RCPT TO per
 * recipient, DATA with dot-stuffing, QUIT. Meant for a relay on a trusted network (localhost or the
 * site's smarthost). 4xx answers and connection failures are transient (retried by the caller); 5xx are
 * final.
 */
import { connect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { retry } from '../../core/backoff.js';
import { Code, FlotillaError } from '../../core/errors.js';
import { parseHostPort } from '../../core/address.js';
import type { DeliveryOptions } from './webhook.js';

export interface MailMessage {
  /** SMTP server host:port. */
  smtp: string;
  from: string;
  to: string[];
  subject: string;
  text: string;
}

const addressOk = (a: string): boolean => /^[^\s<>@]+@[^\s<>@]+$/.test(a);

/** Reads SMTP replies from a socket: next() resolves with the code and text of the next full reply. */
function replyReader(sock: Socket): { next(): Promise<{ code: number; text: string }> } {
  let buf = '';
  let lines: string[] = [];
  const ready: { code: number; text: string }[] = [];
  let waiter: { resolve: (r: { code: number; text: string }) => void; reject: (e: Error) => void } | undefined;
  let failure: Error | undefined;
  const push = (r: { code: number; text: string }): void => {
    if (waiter !== undefined) {
      const w = waiter;
      waiter = undefined;
      w.resolve(r);
    } else ready.push(r);
  };
  const fail = (e: Error): void => {
    failure ??= e;
    waiter?.reject(e);
    waiter = undefined;
  };
  sock.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    if (buf.length > 64 * 1024) return fail(new Error('reply too long'));
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      const m = /^(\d{3})([ -])(.*)$/.exec(line);
      if (m === null) return fail(new Error(`malformed reply ${JSON.stringify(line.slice(0, 100))}`));
      lines.push(m[3]!);
      if (m[2] === ' ') {
        push({ code: Number(m[1]), text: lines.join(' ') });
        lines = [];
      }
    }
  });
  sock.on('error', (e) => fail(e));
  sock.on('close', () => fail(new Error('connection closed')));
  return {
    next: () => {
      const r = ready.shift();
      if (r !== undefined) return Promise.resolve(r);
      if (failure !== undefined) return Promise.reject(failure);
      return new Promise((resolve, reject) => (waiter = { resolve, reject }));
    },
  };
}

async function sendOnce(msg: MailMessage, timeoutMs: number): Promise<void> {
  const addr = parseHostPort(msg.smtp.includes(':') ? msg.smtp : `${msg.smtp}:25`);
  if (addr.error !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, `notify.email.smtp ${JSON.stringify(msg.smtp)}: ${addr.error}`);
  const { host, port } = addr;
  const sock = connect({ host, port });
  sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`no answer within ${timeoutMs} ms`)));
  const replies = replyReader(sock);
  const expect = async (step: string, ok: (code: number) => boolean): Promise<void> => {
    let r: { code: number; text: string };
    try {
      r = await replies.next();
    } catch (err) {
      throw new FlotillaError(Code.UNAVAILABLE, `smtp ${msg.smtp} (${step}): ${(err as Error).message}`);
    }
    if (ok(r.code)) return;
    throw new FlotillaError(r.code >= 400 && r.code < 500 ? Code.UNAVAILABLE : Code.FAILED_PRECONDITION, `smtp ${msg.smtp} refused ${step}: ${r.code} ${r.text}`);
  };
  const send = (line: string): void => {
    sock.write(`${line}\r\n`);
  };
  try {
    await expect('the greeting', (c) => c === 220);
    send(`EHLO ${hostname() || 'flotilla'}`);
    await expect('EHLO', (c) => c === 250);
    send(`MAIL FROM:<${msg.from}>`);
    await expect('MAIL FROM', (c) => c === 250);
    for (const to of msg.to) {
      send(`RCPT TO:<${to}>`);
      await expect(`RCPT TO ${to}`, (c) => c === 250 || c === 251);
    }
    send('DATA');
    await expect('DATA', (c) => c === 354);
    const headers = [
      `From: <${msg.from}>`,
      `To: ${msg.to.map((t) => `<${t}>`).join(', ')}`,
      `Subject: ${msg.subject.replace(/[\r\n]+/g, ' ')}`,
      `Date: ${new Date().toUTCString()}`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
    ];
    const body = msg.text.split(/\r?\n/).map((l) => (l.startsWith('.') ? `.${l}` : l));
    sock.write(`${[...headers, '', ...body].join('\r\n')}\r\n.\r\n`);
    await expect('the message', (c) => c === 250);
    send('QUIT');
    await expect('QUIT', (c) => c === 221).catch(() => undefined);
  } finally {
    sock.destroy();
  }
}

/** Sends one plain-text mail; transient failures are retried with backoff. */
export async function sendMail(msg: MailMessage, options: DeliveryOptions = {}): Promise<void> {
  for (const a of [msg.from, ...msg.to]) {
    if (!addressOk(a)) throw new FlotillaError(Code.INVALID_ARGUMENT, `not a mail address: ${JSON.stringify(a)}`);
  }
  await retry(() => sendOnce(msg, options.timeoutMs ?? 10_000), { baseMs: 500, maxMs: 30_000, ...options, retries: options.retries ?? 5 });
}
