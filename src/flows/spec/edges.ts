/**
 * The `workflow:` edge language of FLOW-1: `a -> b`, `[b, c] -> d`, chains `a -> b -> c`, and a trailing
 * `// comment` (the source document writes one). Each name keeps its column inside the line.
 */

export interface EdgeName {
  name: string;
  /** 0-based index of the name in the line. */
  index: number;
}

export type ParsedEdgeLine = { stages: EdgeName[][]; error?: undefined } | { error: string; index: number };

const namePattern = /^[A-Za-z0-9_.-]+$/;

/** Parses one line; an empty (or comment-only) line gives no stages. */
export function parseEdgeLine(line: string): ParsedEdgeLine {
  const comment = line.indexOf('//');
  const text = comment >= 0 ? line.slice(0, comment) : line;
  if (text.trim() === '') return { stages: [] };
  const stages: EdgeName[][] = [];
  let pos = 0;
  const parts: { text: string; start: number }[] = [];
  for (;;) {
    const arrow = text.indexOf('->', pos);
    const end = arrow < 0 ? text.length : arrow;
    parts.push({ text: text.slice(pos, end), start: pos });
    if (arrow < 0) break;
    pos = arrow + 2;
  }
  if (parts.length < 2) return { error: `expected "upstream -> downstream", got ${JSON.stringify(text.trim())}`, index: firstNonSpace(text) };
  for (const part of parts) {
    const lead = part.text.length - part.text.trimStart().length;
    const body = part.text.trim();
    const at = part.start + lead;
    if (body === '') return { error: 'a task name or [list] is missing around "->"', index: at };
    if (body.startsWith('[')) {
      if (!body.endsWith(']')) return { error: `unclosed "[" in ${JSON.stringify(body)}`, index: at };
      const inner = body.slice(1, -1);
      const names: EdgeName[] = [];
      let offset = 0;
      for (const raw of inner.split(',')) {
        const name = raw.trim();
        const idx = at + 1 + offset + (raw.length - raw.trimStart().length);
        offset += raw.length + 1;
        if (!namePattern.test(name)) return { error: name === '' ? 'empty task name in list' : `bad task name ${JSON.stringify(name)}`, index: idx };
        names.push({ name, index: idx });
      }
      stages.push(names);
    } else {
      if (!namePattern.test(body)) return { error: `bad task name ${JSON.stringify(body)}`, index: at };
      stages.push([{ name: body, index: at }]);
    }
  }
  return { stages };
}

function firstNonSpace(s: string): number {
  return s.length - s.trimStart().length;
}
