/**
 * Parsers of cgroup files (v2 and the v1 controllers a hybrid host still binds there) and of
 * /proc/self/mounts, for the containers collector. Pure functions over file text: a malformed line is
 * skipped, a malformed file gives undefined, nothing throws.
 */

/** Where each controller's files live: the cgroup2 mount, and v1 hierarchies by controller. */
export interface CgroupLayout {
  /** Mount point of the cgroup2 (unified) hierarchy, if any. */
  unified: string | undefined;
  /** v1 hierarchies by controller name (cpu, cpuacct, memory, pids, blkio), mount point each. */
  v1: Partial<Record<V1Controller, string>>;
}

export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids', 'blkio'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

/** Unescapes the octal escapes of /proc/self/mounts (`\040` is a space). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Finds the cgroup2 mount and the v1 hierarchies of the controllers we read in /proc/self/mounts. */
export function parseCgroupMounts(text: string): CgroupLayout {
  const layout: CgroupLayout = { unified: undefined, v1: {} };
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const mountPoint = unescapeMount(f[1]!);
    if (f[2] === 'cgroup2') {
      layout.unified ??= mountPoint;
    } else if (f[2] === 'cgroup') {
      const options = f[3]!.split(',');
      for (const c of V1_CONTROLLERS) if (options.includes(c)) layout.v1[c] ??= mountPoint;
    }
  }
  return layout;
}

/** `key value` lines (cpu.stat, memory.stat, cpuacct.stat) as numbers; non-numeric values skipped. */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v, extra] = line.trim().split(/\s+/);
    if (k === undefined || k === '' || v === undefined || extra !== undefined) continue;
    const n = Number(v);
    if (Number.isFinite(n) && n >= 0) out.set(k, n);
  }
  return out;
}

/**
 * A single-value file: a non-negative number, or 'max' (no limit). v1 reports "no limit" as a huge
 * number (PAGE_COUNTER_MAX pages, about 2^63): values from 2^62 up count as 'max' too.
 */
export function parseSingleValue(text: string): number | 'max' | undefined {
  const s = text.trim();
  if (s === 'max') return 'max';
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  if (!Number.isFinite(n)) return undefined;
  return n >= 2 ** 62 ? 'max' : n;
}

export interface IoTotals {
  readBytes: number;
  writtenBytes: number;
  reads: number;
  writes: number;
}

/** v2 io.stat: `MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N` per device; summed. */
export function parseIoStat(text: string): IoTotals {
  const t: IoTotals = { readBytes: 0, writtenBytes: 0, reads: 0, writes: 0 };
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 2 || !/^\d+:\d+$/.test(f[0]!)) continue;
    for (const kv of f.slice(1)) {
      const [k, v] = kv.split('=');
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) continue;
      if (k === 'rbytes') t.readBytes += n;
      else if (k === 'wbytes') t.writtenBytes += n;
      else if (k === 'rios') t.reads += n;
      else if (k === 'wios') t.writes += n;
    }
  }
  return t;
}

/** v1 blkio.throttle.io_service_bytes / io_serviced: `MAJ:MIN Read N` lines; the Total lines are skipped. */
export function parseBlkioTotals(text: string): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 3 || !/^\d+:\d+$/.test(f[0]!)) continue;
    const n = Number(f[2]);
    if (!Number.isFinite(n) || n < 0) continue;
    if (f[1] === 'Read') read += n;
    else if (f[1] === 'Write') write += n;
  }
  return { read, write };
}

/** What a cgroup path says about what runs in it. */
export interface CgroupIdentity {
  /** Container runtime: docker, containerd, podman, crio; absent for plain services. */
  runtime?: string;
  /** Full container id (64 hex digits). */
  id?: string;
  /** The systemd unit the cgroup is (the last path component ending in .service, .scope, .slice, ...). */
  unit?: string;
}

const ID = '([0-9a-f]{64})';
const RUNTIME_PATTERNS: [RegExp, string][] = [
  [new RegExp(`(?:^|/)docker-${ID}\\.scope$`), 'docker'],
  [new RegExp(`(?:^|/)docker/${ID}$`), 'docker'],
  [new RegExp(`(?:^|/)libpod-${ID}\\.scope$`), 'podman'],
  [new RegExp(`(?:^|/)libpod-${ID}(?:\\.scope)?/container$`), 'podman'],
  [new RegExp(`(?:^|/)cri-containerd-${ID}\\.scope$`), 'containerd'],
  [new RegExp(`(?:^|/)crio-${ID}\\.scope$`), 'crio'],
  // cgroupfs driver under Kubernetes: /kubepods/<qos>/pod<uid>/<id>
  [new RegExp(`(?:^|/)kubepods[^/]*/(?:[^/]+/)*${ID}$`), 'containerd'],
];

const UNIT_RE = /\.(service|scope|slice|socket|mount|swap)$/;

/** The identity of a cgroup from its path (relative to the hierarchy's root, starting with '/'). */
export function identifyCgroup(path: string): CgroupIdentity {
  const out: CgroupIdentity = {};
  for (const [re, runtime] of RUNTIME_PATTERNS) {
    const m = re.exec(path);
    if (m !== null) {
      out.runtime = runtime;
      out.id = m[1]!;
      break;
    }
  }
  const last = path.split('/').filter((p) => p !== '').pop();
  if (last !== undefined && UNIT_RE.test(last)) out.unit = last.replace(/\\x2d/g, '-');
  return out;
}
