/**
 * Generators of HTTP requests for the API fuzz run: a registered route with its parameters, query,
 * method, headers and body filled from hostile values and mutated valid bodies (well-formed HTTP/1.1), and
 * requests with broken framing (NUL in the target, Content-Length lying, huge or malformed headers, bad
 * chunked coding). Each case is the exact bytes sent and what kind of answer it may get.
 */
import fc from 'fast-check';
import { mutated } from './mutate.js';

export type Target = 'server' | 'node' | 'xfer';

export interface HttpCase {
  target: Target;
  /** METHOD target, printable, for the report. */
  label: string;
  bytes: Buffer;
  head: boolean;
  /** Well-formed HTTP: it reaches the application and gets its error format. Broken: the parser may refuse it. */
  framing: 'ok' | 'broken';
  /** Half-close after writing (the broken cases: some give the server no other end of the request). */
  halfClose: boolean;
}

export interface RouteRef {
  target: Target;
  method: string;
  url: string;
}

/** Percent-encodes everything but unreserved characters (lone surrogates become U+FFFD first). */
export function pct(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) out += /[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** Path parameter values: traversal, NUL, bad percent-encoding, unicode, long, numbers, prototype keys. */
const PARAMS = [
  'x', 'nosuch', 'fuzz-1', '..', '../..', '%2e%2e', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '..%2f..%2f..%2fetc%2fpasswd', '%00', 'a%00b', '%zz', '%', '%%',
  '%E2%98%83', '%F0%9D%84%9E', '%C0%AF', '%ED%A0%80', '%FF%FE', '%E0%A4%A', 'a'.repeat(300), 'a'.repeat(5000), '0', '-1', '1e309', '18446744073709551616',
  'NaN', 'null', 'undefined', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '%20', '+', 'a;b', "a'b", 'a%22b', '%3Cscript%3E', '.', '~',
  'flt_000000000000_x', 'kv', 'objects', 'replicated-1', 'files', 'runs', 'a/b', 'a//b', '/', 'A'.repeat(64),
];

const QUERY_KEYS = [
  'limit', 'start', 'end', 'step', 'time', 'query', 'match[]', 'since', 'follow', 'prefix', 'after', 'before', 'offset', 'epoch', 'channel', 'state',
  'task', 'attempt', 'n', 'r', 'w', 'consistency', 'max-keys', 'list-type', 'delimiter', 'continuation-token', 'uploads', 'uploadId', 'partNumber',
  'versionId', 'X-Amz-Signature', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Algorithm', 'acl', 'location',
  'delete', 'tagging', 'marker', 'start-after', 'fetch-owner', 'encoding-type', 'timeout', 'key', 'value', 'bucket', 'cursor', '__proto__', '',
];
const QUERY_VALUES = [
  '1', '0', '-1', '99999999999', '1e309', '1.5', 'true', 'up', 'sum(rate(x[5m]))', '{', 'm[5m:1m]', '2026-01-01T00:00:00Z', '1h', '0s', 'abc', '',
  '%00', '%zz', 'a'.repeat(3000), '%E2%98%83', 'AWS4-HMAC-SHA256', 'AKIA%2F20260101%2Fus-east-1%2Fs3%2Faws4_request', '20260101T000000Z', '604801', 'url',
];

const JSON_PIECES = [
  '{', '}', '[', ']', ',', ':', '"', '\\', '\\u0000', '\\ud800', 'null', 'true', 'false', '0', '-0', '1e309', '-1e309', '123456789012345678901234567890',
  '0.000000001', 'NaN', '""', '"__proto__"', '"constructor"', '{"__proto__":{"x":1}}', '[[[[[[[[', ']]]]]]]]', ' ', '\n', '\u2028', '\uFFFF', '\u0000',
];

const SPEC = 'collection:\n  key: fuzz-flow\n  triggertime: "2099-01-01T00:00:00Z"\ntasks:\n  a:\n    command: "true"\n  b:\n    command: "true"\nworkflow:\n  - a -> b\n';

/** Valid JSON bodies per route (method + pattern); a route without one gets `{}`. */
const BODIES: Record<string, unknown[]> = {
  'POST /api/v1/publish': [{ channel: 'fuzz', data: { a: 1 }, delay: '1h' }, { channel: 'public:fuzz', dataBase64: 'aGk=', deliverAt: 4102444800000, ttl: '30s', idempotencyKey: 'k1' }],
  'POST /api/v1/channel-tokens': [{ channel: 'fuzz', ttl: '1h' }, { channel: 'public:x', ttl: 60_000, sub: 'me' }],
  'POST /api/v1/auth/tokens': [{ role: 'reader', name: 'fuzz', scopes: ['kv'], ttl: '1h' }, { role: 'operator', ttl: '2w' }],
  'POST /api/v1/rings/build': [{ rings: ['nosuch'] }, {}],
  'POST /api/v1/flows/validate': [{ fileName: 'f.yaml', yaml: SPEC, files: {} }, { fileName: 'f.yaml', yaml: SPEC.replace('"true"', 'x.sh'), files: { 'x.sh': 'true\n' } }],
  'POST /api/v1/flows': [{ fileName: 'f.yaml', yaml: SPEC, files: {} }],
  'POST /api/v1/flows/runs/:id/rerun': [{ task: 'a', latest: true }],
  'PUT /api/v1/agents/:host/config': [{ interval: 5, metrics: ['cpu', 'memory'] }],
  'POST /api/v1/agents/:host/commands': [{ action: 'ping', payload: {}, timeoutMs: 1000 }, { action: 'set_interval', payload: { interval: 10 } }],
  'POST /api/v1/query': [{ query: 'up', time: '2026-01-01T00:00:00Z' }],
  'POST /api/v1/query_range': [{ query: 'rate(x[5m])', start: '0', end: '600', step: '15' }],
  'POST /api/v1/series': [{ 'match[]': ['up'] }],
  'PUT /api/v1/objects/buckets/:bucket': [{ policy: 'replicated-1' }],
};

/** Byte bodies for routes that take bytes (KV values, objects, blobs, S3, file transfer). */
const S3_XML = [
  '<Delete><Object><Key>a</Key></Object><Quiet>true</Quiet></Delete>',
  '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>',
  '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><Delete><Object><Key>&e;</Key></Object></Delete>',
  '<CreateBucketConfiguration><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>',
];
const XML_PIECES = ['<', '>', '</', '/>', '<Key>', '</Key>', '<Object>', '&amp;', '&e;', '<![CDATA[', ']]>', '"', '\u0000', '<!--', '-->', 'x'.repeat(100)];

function multipart(boundary: string, parts: { name: string; filename?: string; body: string }[]): string {
  return (
    parts.map((p) => `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}\r\n\r\n${p.body}\r\n`).join('') +
    `--${boundary}--\r\n`
  );
}
const XFER_BODIES = [
  multipart('b0undary', [{ name: 'file', filename: 'fuzz.txt', body: 'hello' }]),
  multipart('b0undary', [{ name: 'name', body: 'fuzz.txt' }]),
  multipart('b0undary', [{ name: 'file', filename: '../../etc/passwd', body: 'x' }, { name: 'file', filename: 'a'.repeat(300), body: '' }]),
];
const MULTIPART_PIECES = ['--b0undary', '--b0undary--', '\r\n', '\r\n\r\n', 'Content-Disposition: form-data; name="file"; filename="', '"', ';', 'filename*=UTF-8\'\'%E2%98%83', '\u0000', '..', '/'];

export interface Credentials {
  admin: string;
}

function authHeader(creds: Credentials): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(`Bearer ${creds.admin}`) },
    { weight: 3, arbitrary: fc.constant(undefined) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        'Bearer', 'Bearer ', 'Bearer garbage', 'Basic YWRtaW46YWRtaW4=', `Bearer ${creds.admin}x`, `Bearer ${creds.admin.slice(0, -3)}`, `bearer ${creds.admin}`,
        `Bearer ${creds.admin.replace(/_[^_]*$/, '_')}`, 'Bearer flt__', 'Bearer flt_zzzzzzzzzzzz_abc', `Bearer ${'a'.repeat(4000)}`, 'Bearer \u00ff\u00fe',
        'AWS4-HMAC-SHA256 Credential=AKIAFUZZ/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=' + 'ab'.repeat(32),
        'AWS4-HMAC-SHA256 Credential=, SignedHeaders=, Signature=', 'AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f/g/h, SignedHeaders=host', 'AWS AKIAFUZZ:c2lnbmF0dXJl',
        'AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA256 Credential=AKIAFUZZ/20260101/us-east-1/s3/aws4_request,SignedHeaders=x-amz-content-sha256;host;' + 'a;'.repeat(500) + ',Signature=zz',
      ),
    },
  );
}

const EXTRA_HEADERS: [string, string][] = [
  ['x-amz-content-sha256', 'UNSIGNED-PAYLOAD'], ['x-amz-content-sha256', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'], ['x-amz-content-sha256', 'zz'],
  ['x-amz-content-sha256', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'], ['x-amz-date', '20260101T000000Z'], ['x-amz-date', 'yesterday'],
  ['x-amz-decoded-content-length', '-5'], ['x-amz-decoded-content-length', '99999999999999999999'], ['content-md5', 'not-base64'],
  ['x-amz-checksum-sha256', 'AAAA'], ['x-amz-copy-source', '/nosuch/key'], ['x-amz-copy-source', '%zz'], ['x-amz-meta-a', '\u00e9'], ['range', 'bytes=0-10'],
  ['range', 'bytes=-5'], ['range', 'bytes=10-5'], ['range', 'bytes=abc'], ['range', 'bytes=0-1,2-3'], ['range', 'bytes=99999999999999999999-'],
  ['if-match', '"x"'], ['if-none-match', '*'], ['if-modified-since', 'never'], ['accept', '*/*'], ['accept', 'text/event-stream'], ['last-event-id', '-1'],
  ['last-event-id', 'zz'], ['content-encoding', 'gzip'], ['content-encoding', 'br'], ['content-encoding', 'identity'], ['x-forwarded-for', '1.2.3.4'],
  ['origin', 'http://evil.example'], ['cookie', 'flotilla_session=zzz'], ['x-flotilla-consistency', 'all'], ['x-http-method-override', 'DELETE'],
];

const CONTENT_TYPES = [
  'application/json', 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/octet-stream', 'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=b0undary', 'multipart/form-data', 'application/json; charset=utf-16', 'application/xml', 'garbage', '', '*/*',
  'application/problem+json', 'text/event-stream',
];

/** Structure-aware edits of a JSON value: a field replaced by a value of another type, or removed, or added. */
const WRONG_VALUES: unknown[] = [null, 0, -1, 1e308, 2 ** 64, '', 'x'.repeat(10_000), [], {}, true, [1, 'a', null], { $gt: '' }, '__proto__', '\u0000'];
function wrongTypes(value: unknown): fc.Arbitrary<string> {
  const keys = value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : [];
  return fc
    .tuple(fc.constantFrom(...[...keys, '__proto__', 'constructor', 'extra']), fc.constantFrom(...WRONG_VALUES), fc.boolean())
    .map(([k, v, drop]) => {
      const copy = { ...(value as Record<string, unknown>) };
      if (drop && k in copy) delete copy[k];
      else copy[k] = v;
      return k === '__proto__' ? JSON.stringify(copy).replace(/^\{/, `{"__proto__":${JSON.stringify(v)},`) : JSON.stringify(copy);
    });
}

function deep(n: number, open: string, close: string): string {
  return open.repeat(n) + close.repeat(n);
}

function bodyFor(route: RouteRef): fc.Arbitrary<{ body: Buffer; contentType: string | undefined }> {
  const key = `${route.method} ${route.url}`;
  const corpus = (BODIES[key] ?? [{}]).map((v) => JSON.stringify(v));
  const json = (a: fc.Arbitrary<string>): fc.Arbitrary<{ body: Buffer; contentType: string | undefined }> => a.map((s) => ({ body: Buffer.from(s), contentType: 'application/json' }));
  const bytes = fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b));
  const isXfer = route.target === 'xfer';
  const isS3 = route.target === 'node' && !route.url.startsWith('/api/') && !route.url.startsWith('/internal/');
  const special = [
    fc.constant({ body: Buffer.alloc(0), contentType: undefined }),
    json(fc.constantFrom('null', '"str"', '[]', '0', 'true', '1e999', '-0', '{"a":1e999999}', '{"interval":123456789012345678901234567890}', '{"__proto__":{"role":"admin"}}', '{"constructor":{"prototype":{"x":1}}}', '{"a":1,"a":2}', '\ufeff{}')),
    json(fc.constantFrom(deep(5000, '[', ']'), deep(100_000, '[', ']'), deep(20_000, '{"a":', '}').replace(/}$/, '1}').replace(/^/, ''), `{"data":${deep(50_000, '[', ']')},"channel":"fuzz"}`)),
    fc.constant({ body: Buffer.alloc(1_100_000, 0x61), contentType: 'application/json' }),
    bytes.map((b) => ({ body: b, contentType: 'application/json' })),
  ];
  const typed = isXfer
    ? [mutated(XFER_BODIES, MULTIPART_PIECES, 4).map((s) => ({ body: Buffer.from(s), contentType: 'multipart/form-data; boundary=b0undary' })), fc.constant({ body: Buffer.from('name=fuzz.txt'), contentType: 'application/x-www-form-urlencoded' })]
    : isS3
      ? [mutated(S3_XML, XML_PIECES, 4).map((s) => ({ body: Buffer.from(s), contentType: 'application/xml' })), bytes.map((b) => ({ body: b, contentType: 'application/octet-stream' }))]
      : [json(fc.constantFrom(...corpus)), json(mutated(corpus, JSON_PIECES, 4)), ...corpus.map((c) => json(wrongTypes(JSON.parse(c)))), bytes.map((b) => ({ body: b, contentType: 'application/octet-stream' }))];
  return fc.oneof({ weight: 3, arbitrary: fc.oneof(...typed) }, { weight: 1, arbitrary: fc.oneof(...special) });
}

function fillPattern(url: string): fc.Arbitrary<string> {
  const parts = url.split(/(:[A-Za-z_]+|\*)/).filter((p) => p !== '');
  const randomParam = fc.oneof(
    fc.string({ maxLength: 40 }).map(pct),
    fc.string({ unit: 'binary', maxLength: 20 }).map(pct),
    fc.array(fc.constantFrom(...PARAMS), { minLength: 1, maxLength: 4 }).map((a) => a.join('/')),
  );
  const param = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...PARAMS) }, { weight: 1, arbitrary: randomParam });
  return fc.tuple(...parts.map((p) => (p.startsWith(':') || p === '*' ? param : fc.constant(p)))).map((a) => a.join(''));
}

const query: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: fc.constant('') },
  {
    weight: 3,
    arbitrary: fc
      .array(fc.tuple(fc.constantFrom(...QUERY_KEYS), fc.constantFrom(...QUERY_VALUES)), { minLength: 1, maxLength: 5 })
      .map((kv) => `?${kv.map(([k, v]) => (v === '' ? k : `${k}=${v}`)).join('&')}`),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }).map((s) => `?${pct(s).replace(/%3D/g, '=').replace(/%26/g, '&')}`) },
);

/** A path that no route matches, or almost matches (a mutation of a registered pattern). */
function mutatedPath(urls: string[]): fc.Arbitrary<string> {
  return mutated(urls, ['/', '//', '..', '%2e', '%2F', ':', '*', '?', '%00', '%', 'api', 'v1', '~', '%E2%98%83'], 3).map((p) => (p.startsWith('/') ? p : `/${p}`).replace(/[^\x21-\x7e]/g, (c) => pct(c)).replace(/#/g, '%23'));
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH'];

function serialize(method: string, target: string, headers: [string, string][], body: Buffer): Buffer {
  const head = `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** Well-formed requests: a registered route (or a mutation of one) with hostile parts. */
export function wellFormedCase(routes: RouteRef[], creds: Credentials): fc.Arbitrary<HttpCase> {
  const byTarget = (t: Target): string[] => [...new Set(routes.filter((r) => r.target === t).map((r) => r.url))];
  return fc.constantFrom(...routes).chain((route) =>
    fc
      .record({
        path: fc.oneof({ weight: 5, arbitrary: fillPattern(route.url) }, { weight: 1, arbitrary: mutatedPath(byTarget(route.target)) }),
        query,
        method: fc.oneof({ weight: 8, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
        auth: authHeader(creds),
        body: bodyFor(route),
        contentType: fc.oneof({ weight: 4, arbitrary: fc.constant<string | undefined>(undefined) }, { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) }),
        extra: fc.subarray(EXTRA_HEADERS, { maxLength: 3 }),
      })
      .map(({ path, query: q, method, auth, body, contentType, extra }) => {
        const target = path + q;
        const headers: [string, string][] = [];
        if (auth !== undefined) headers.push(['Authorization', auth]);
        const ct = contentType ?? body.contentType;
        if (ct !== undefined && body.body.length > 0) headers.push(['Content-Type', ct]);
        if (body.body.length > 0 || method === 'POST' || method === 'PUT') headers.push(['Content-Length', String(body.body.length)]);
        headers.push(...extra.map(([k, v]): [string, string] => [k, Buffer.from(v, 'utf8').toString('latin1')]));
        return { target: route.target, label: `${method} ${target.slice(0, 200)}`, bytes: serialize(method, target, headers, body.body), head: method === 'HEAD', framing: 'ok' as const, halfClose: false };
      }),
  );
}

/** Requests whose HTTP/1.1 framing itself is broken or hostile. */
export function brokenFramingCase(routes: RouteRef[], creds: Credentials): fc.Arbitrary<HttpCase> {
  const auth = `Authorization: Bearer ${creds.admin}\r\n`;
  const json = '{"channel":"fuzz","data":1}';
  const variants: ((path: string) => string)[] = [
    (p) => `GET ${p}\u0000x HTTP/1.1\r\nHost: h\r\n${auth}\r\n`,
    (p) => `GET ${p} x HTTP/1.1\r\nHost: h\r\n\r\n`,
    (p) => `GET ${p}/${'a'.repeat(20_000)} HTTP/1.1\r\nHost: h\r\n${auth}\r\n`,
    (p) => `GET ${p} HTTP/1.1\r\nHost: h\r\nX-Big: ${'b'.repeat(70_000)}\r\n\r\n`,
    (p) => `GET ${p} HTTP/1.1\r\nHost: h\r\n${'X-Many: 1\r\n'.repeat(3000)}\r\n`,
    (p) => `GET ${p} HTTP/1.1\r\nHost: h\r\nNo-Colon-Here\r\n\r\n`,
    (p) => `GET ${p} HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n`,
    (p) => `GET ${p} HTTP/1.1\r\nHost: h\r\n${auth}X-Ctl: a\u0001b\r\n\r\n`,
    (p) => `POST ${p} HTTP/1.1\r\nHost: h\r\n${auth}Content-Type: application/json\r\nContent-Length: 500\r\n\r\n${json}`,
    (p) => `POST ${p} HTTP/1.1\r\nHost: h\r\n${auth}Content-Type: application/json\r\nContent-Length: 3\r\n\r\n${json}`,
    (p) => `POST ${p} HTTP/1.1\r\nHost: h\r\n${auth}Content-Length: -1\r\n\r\n`,
    (p) => `POST ${p} HTTP/1.1\r\nHost: h\r\n${auth}Content-Length: abc\r\n\r\n`,
    (p) => `POST ${p} HTTP/1.1\r\nHost: h\r\n${auth}Content-Length: 99999999999999999999\r\n\r\nx`,
    (p) => `POST ${p} HTTP/1.1\r\nHost: h\r\n${auth}Content-Length: 5\r\nContent-Length: 7\r\n\r\n{"a":1}`,
    (p) => `POST ${p} HTTP/1.1\r\nHost: h\r\n${auth}Content-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n{"a":1}`,
    (p) => `POST ${p} HTTP/1.1\r\nHost: h\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
    (p) => `POST ${p} HTTP/1.1\r\nHost: h\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffff\r\n{}`,
    (p) => `POST ${p} HTTP/1.1\r\nHost: h\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n`,
    (p) => `POST ${p} HTTP/1.1\r\nHost: h\r\n${auth}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
    (p) => `POST ${p} HTTP/1.1\r\nHost: h\r\n${auth}Content-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\n\u001f\u008b\u0008\u0000`,
    (p) => `POST ${p} HTTP/1.1\r\nHost: h\r\n${auth}Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: ${json.length}\r\n\r\n${json}`,
    (p) => `GET ${p} HTTP/1.0\r\n\r\n`,
    (p) => `GET ${p} HTTP/2.0\r\nHost: h\r\n\r\n`,
    (p) => `GET ${p} HTTP/1.1\nHost: h\n${auth.replace('\r\n', '\n')}\n`,
    (p) => `GET http://evil.example${p} HTTP/1.1\r\nHost: h\r\n${auth}\r\n`,
    () => `OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n`,
    () => `CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: h\r\n\r\n`,
    (p) => `get ${p} HTTP/1.1\r\nHost: h\r\n\r\n`,
    (p) => `G\u00c9T ${p} HTTP/1.1\r\nHost: h\r\n\r\n`,
    (p) => `GET ${p} HTTP/1.1\r\nHost: h\r\n${auth}\r\nGET ${p} HTTP/1.1\r\nHost: h\r\n\r\n`,
    (p) => `GET ${p} HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`,
    (p) => `GET ${p} HTTP/1.1\r\nHost: h\r\n${auth}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    () => 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    () => '\r\n\r\n\r\n',
    () => '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003',
  ];
  return fc.tuple(fc.constantFrom(...routes), fc.integer({ min: 0, max: variants.length - 1 }), fc.uint8Array({ maxLength: 64 })).map(([route, i, noise]) => {
    const path = route.url.replace(/:[A-Za-z_]+|\*/g, 'x');
    const text = variants[i]!(path);
    const bytes = i === variants.length - 1 ? Buffer.concat([Buffer.from(text, 'latin1'), Buffer.from(noise)]) : Buffer.from(text, 'latin1');
    return { target: route.target, label: `broken #${i} ${path}: ${JSON.stringify(text.slice(0, 120))}`, bytes, head: false, framing: 'broken' as const, halfClose: true };
  });
}
