import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { sendMail } from '../../../src/flows/notify/index.js';
import { startHarness } from '../flow-harness.js';

const fast = { baseMs: 10, maxMs: 50, retries: 3 };

/** A webhook receiver that answers 500 to the first `failFirst` requests, then 204. */
async function webhookServer(failFirst: number): Promise<{ url: string; bodies: unknown[]; hits: () => number; close: () => Promise<void> }> {
  const bodies: unknown[] = [];
  let hits = 0;
  const server = createHttpServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      hits++;
      if (hits <= failFirst) {
        res.writeHead(500).end('try later');
        return;
      }
      bodies.push({ contentType: req.headers['content-type'], ...(JSON.parse(body) as object) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    bodies,
    hits: () => hits,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** A tiny SMTP server on loopback: answers the dialogue and keeps each message's envelope and data. */
async function smtpServer(opts: { refuseFirstConnections?: number } = {}): Promise<{ addr: string; mails: { from: string; to: string[]; data: string }[]; close: () => Promise<void> }> {
  const mails: { from: string; to: string[]; data: string }[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createTcpServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    connections++;
    if (connections <= (opts.refuseFirstConnections ?? 0)) {
      sock.end('421 busy, try again\r\n');
      return;
    }
    let buf = '';
    let inData = false;
    let mail = { from: '', to: [] as string[], data: '' };
    sock.write('220 test ESMTP\r\n');
    sock.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            mails.push(mail);
            mail = { from: '', to: [], data: '' };
            sock.write('250 queued\r\n');
          } else mail.data += `${line.startsWith('..') ? line.slice(1) : line}\n`;
          continue;
        }
        const cmd = line.toUpperCase();
        if (cmd.startsWith('EHLO')) sock.write('250-test\r\n250 8BITMIME\r\n');
        else if (cmd.startsWith('MAIL FROM:')) {
          mail.from = line.slice(10).replace(/[<>]/g, '');
          sock.write('250 ok\r\n');
        } else if (cmd.startsWith('RCPT TO:')) {
          mail.to.push(line.slice(8).replace(/[<>]/g, ''));
          sock.write('250 ok\r\n');
        } else if (cmd === 'DATA') {
          inData = true;
          sock.write('354 go ahead\r\n');
        } else if (cmd === 'QUIT') sock.end('221 bye\r\n');
        else sock.write('500 what?\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    addr: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    mails,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('notifications', () => {
  it('a failed task and a failed run are posted to the webhook (retried after 500s) and mailed over SMTP', async (t) => {
    const hook = await webhookServer(2);
    t.after(() => hook.close());
    const smtp = await smtpServer({ refuseFirstConnections: 1 });
    t.after(() => smtp.close());
    const h = await startHarness({ service: { notifyDelivery: fast } });
    t.after(() => h.close());
    await h.submit(`collection:
  key: notified
  notify:
    webhooks: ["${hook.url}"]
    email: { smtp: "${smtp.addr}", from: flows@example.org, to: [ops@example.org, dev@example.org] }
tasks:
  ok: { command: "true" }
  bad: { command: "echo .dot line; exit 3" }
workflow:
  - ok -> bad
`);
    const run = await h.service.createRun('notified');
    assert.equal((await h.waitRun(run!.id)).state, 'failed');
    await until('2 webhook deliveries', () => hook.bodies.length === 2);
    await until('2 mails', () => smtp.mails.length === 2);
    const events = hook.bodies.map((b) => (b as { event: string }).event).sort();
    assert.deepEqual(events, ['run_failed', 'task_failed']);
    const taskFailed = hook.bodies.find((b) => (b as { event: string }).event === 'task_failed') as Record<string, unknown>;
    assert.equal(taskFailed.contentType, 'application/json');
    assert.deepEqual([taskFailed.flow, taskFailed.run_id, taskFailed.task, taskFailed.state, taskFailed.reason], ['notified', run!.id, 'bad', 'failed', 'exit code 3']);
    assert.ok(hook.hits() >= 4, 'the two 500 answers were retried');
    const mail = smtp.mails.find((m) => m.data.includes('task bad failed'))!;
    assert.equal(mail.from, 'flows@example.org');
    assert.deepEqual(mail.to, ['ops@example.org', 'dev@example.org']);
    assert.match(mail.data, /Subject: \[flotilla\] notified: task bad failed/);
    assert.match(mail.data, /Reason: exit code 3/);
  });

  it('run_success notifies only when asked; a 4xx answer is not retried', async (t) => {
    const hook = await webhookServer(0);
    t.after(() => hook.close());
    const h = await startHarness({ service: { notifyDelivery: fast } });
    t.after(() => h.close());
    await h.submit(`collection: { key: quiet, notify: { webhooks: ["${hook.url}"] } }
tasks:
  ok: { command: "true" }
workflow: []
`);
    await h.waitRun((await h.service.createRun('quiet'))!.id);
    await h.submit(`collection: { key: loud, notify: { webhooks: ["${hook.url}"], on: [run_success] } }
tasks:
  ok: { command: "true" }
workflow: []
`);
    const run = await h.service.createRun('loud');
    await h.waitRun(run!.id);
    await until('the success webhook', () => hook.bodies.length === 1);
    assert.equal((hook.bodies[0] as { run_id: string }).run_id, run!.id, 'only the flow that asked for run_success notified');
    assert.equal((hook.bodies[0] as { event: string }).event, 'run_success');
    assert.equal(h.service.metrics.families().find((f) => f.name === 'flotilla_flow_notifications_total')!.samples[0]!.value, 1);
  });

  it('sendMail refuses bad addresses and gives up on a 5xx answer with the server message', async (t) => {
    const smtp = await smtpServer();
    t.after(() => smtp.close());
    await assert.rejects(sendMail({ smtp: smtp.addr, from: 'no at sign', to: ['a@b.c'], subject: 's', text: 't' }, fast), /not a mail address: "no at sign"/);
    await assert.rejects(sendMail({ smtp: 'not an address', from: 'a@b.c', to: ['a@b.c'], subject: 's', text: 't' }, { ...fast, retries: 0 }), /notify.email.smtp/);
    const refusing = createTcpServer((s) => s.end('554 no service\r\n'));
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => refusing.close(() => r())));
    await assert.rejects(sendMail({ smtp: `127.0.0.1:${(refusing.address() as AddressInfo).port}`, from: 'a@b.c', to: ['d@e.f'], subject: 's', text: 't' }, fast), /refused the greeting: 554 no service/);
  });
});
