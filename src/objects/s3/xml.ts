/**
 * XML of the S3 API: building response documents (escaped, no library) and parsing the few request
 * documents S3 clients send (CompleteMultipartUpload, Delete, CreateBucketConfiguration). The parser is
 * deliberately small and strict: elements, attributes (ignored), text, the five entities and character
 * references, comments and CDATA; a DOCTYPE or processing instruction other than the prolog is refused,
 * so no entity expansion and no external references.
 */
import { S3Error } from './s3-error.js';

export const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n';

// Control characters other than tab, LF and CR cannot appear in XML 1.0 even escaped; S3 writes them as character references.
// eslint-disable-next-line no-control-regex
const ESCAPED = /[&<>"'\u0000-\u0008\u000b\u000c\u000e-\u001f]/g;

export function escapeXml(s: string): string {
  return s.replace(ESCAPED, (c) => {
    switch (c) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '"':
        return '&quot;';
      case "'":
        return '&apos;';
      default:
        return `&#${c.charCodeAt(0)};`;
    }
  });
}

/** A value tree for `toXml`: strings and numbers are text, arrays repeat the element, objects nest. */
export type XmlValue = string | number | boolean | undefined | XmlNode | XmlValue[];
export interface XmlNode {
  [name: string]: XmlValue;
}

function renderValue(name: string, value: XmlValue): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return value.map((v) => renderValue(name, v)).join('');
  if (typeof value === 'object') return `<${name}>${renderChildren(value)}</${name}>`;
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

function renderChildren(node: XmlNode): string {
  return Object.entries(node)
    .map(([k, v]) => renderValue(k, v))
    .join('');
}

/** A whole response document: `<root xmlns="...">children</root>` with the XML prolog. */
export function toXml(root: string, children: XmlNode, options: { xmlns?: boolean } = {}): string {
  const ns = options.xmlns === false ? '' : ` xmlns="${S3_XMLNS}"`;
  return `${PROLOG}<${root}${ns}>${renderChildren(children)}</${root}>`;
}

/** The S3 error document. */
export function errorXml(err: S3Error, resource: string, requestId: string): string {
  return toXml(
    'Error',
    { Code: err.code, Message: err.message, ...err.extra, Resource: resource, RequestId: requestId },
    { xmlns: false },
  );
}

export interface XmlElement {
  name: string;
  children: XmlElement[];
  text: string;
}

const entities: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeText(raw: string): string {
  return raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);|&/g, (m, ref: string | undefined) => {
    if (ref === undefined) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed: bare &');
    let cp: number | undefined;
    if (ref.startsWith('#x')) cp = parseInt(ref.slice(2), 16);
    else if (ref.startsWith('#')) cp = parseInt(ref.slice(1), 10);
    else {
      const e = entities[ref];
      if (e === undefined) throw new S3Error('MalformedXML', `The XML you provided was not well-formed: unknown entity ${m}`);
      return e;
    }
    if (!Number.isFinite(cp) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw new S3Error('MalformedXML', `The XML you provided was not well-formed: bad reference ${m}`);
    return String.fromCodePoint(cp);
  });
}

const NAME = /^[A-Za-z_][\w.:-]*/;

/** Parses one XML document into its root element; throws S3Error MalformedXML on anything else. */
export function parseXml(text: string): XmlElement {
  const bad = (why: string): S3Error => new S3Error('MalformedXML', `The XML you provided was not well-formed or did not validate: ${why}`);
  let i = 0;
  const n = text.length;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  while (i < n) {
    const lt = text.indexOf('<', i);
    const chunk = text.slice(i, lt === -1 ? n : lt);
    if (chunk.length > 0) {
      const top = stack[stack.length - 1];
      if (top === undefined) {
        if (chunk.trim() !== '') throw bad('text outside the root element');
      } else top.text += decodeText(chunk);
    }
    if (lt === -1) break;
    i = lt;
    if (text.startsWith('<?', i)) {
      if (root !== undefined || stack.length > 0 || !/^<\?xml[\s?]/.test(text.slice(i, i + 6))) throw bad('unexpected processing instruction');
      const end = text.indexOf('?>', i);
      if (end === -1) throw bad('unterminated prolog');
      i = end + 2;
    } else if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i + 4);
      if (end === -1) throw bad('unterminated comment');
      i = end + 3;
    } else if (text.startsWith('<![CDATA[', i)) {
      const top = stack[stack.length - 1];
      const end = text.indexOf(']]>', i + 9);
      if (top === undefined || end === -1) throw bad('misplaced CDATA');
      top.text += text.slice(i + 9, end);
      i = end + 3;
    } else if (text.startsWith('<!', i)) {
      throw bad('DOCTYPE and declarations are not accepted');
    } else if (text.startsWith('</', i)) {
      const m = NAME.exec(text.slice(i + 2, i + 2 + 256));
      const end = text.indexOf('>', i);
      const top = stack.pop();
      if (m === null || end === -1 || top === undefined || top.name !== m[0] || text.slice(i + 2 + m[0].length, end).trim() !== '') throw bad('mismatched end tag');
      if (stack.length === 0) root = top;
      i = end + 1;
    } else {
      const m = NAME.exec(text.slice(i + 1, i + 1 + 256));
      const end = text.indexOf('>', i);
      if (m === null || end === -1) throw bad('malformed start tag');
      if (root !== undefined) throw bad('more than one root element');
      let attrs = text.slice(i + 1 + m[0].length, end);
      const selfClosing = attrs.endsWith('/');
      if (selfClosing) attrs = attrs.slice(0, -1);
      if (!/^(\s+[A-Za-z_][\w.:-]*\s*=\s*("[^"<]*"|'[^'<]*'))*\s*$/.test(attrs)) throw bad('malformed attributes');
      const el: XmlElement = { name: localName(m[0]), children: [], text: '' };
      stack[stack.length - 1]?.children.push(el);
      if (stack.length > 64) throw bad('nested too deeply');
      if (selfClosing) {
        if (stack.length === 0) root = el;
      } else stack.push(el);
      i = end + 1;
    }
  }
  if (root === undefined || stack.length > 0) throw bad(root === undefined && stack.length === 0 ? 'empty document' : 'unclosed element');
  return root;
}

function localName(qname: string): string {
  const c = qname.indexOf(':');
  return c === -1 ? qname : qname.slice(c + 1);
}

/** The children of `el` named `name`. */
export function childrenNamed(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

/** The trimmed text of the first child named `name`, or undefined. */
export function childText(el: XmlElement, name: string): string | undefined {
  const c = el.children.find((x) => x.name === name);
  return c === undefined ? undefined : c.text.trim();
}
