/**
 * filesystem: per mounted filesystem (from /proc/self/mounts, measured with statfs(2)): size, free and
 * available bytes, inodes and free inodes. Pseudo filesystems and the /dev, /proc, /sys trees are skipped
 * with node_exporter 1.5's default filters. A mount whose statfs does not answer within `statfsTimeoutMs`
 * (a dead network mount) is skipped until that call returns, so it never blocks a round.
 */
import type { StatsFs } from 'node:fs';
import { readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { CollectTime, Collector, HostPaths, Sample } from './collector.js';
import { DEFAULT_HOST_PATHS, pushFinite } from './collector.js';

export const FILESYSTEM_METRICS = [
  'node_filesystem_size_bytes',
  'node_filesystem_free_bytes',
  'node_filesystem_avail_bytes',
  'node_filesystem_files',
  'node_filesystem_files_free',
] as const;

/** node_exporter 1.5's default `--collector.filesystem.mount-points-exclude`. */
export const DEFAULT_MOUNT_EXCLUDE = /^\/(dev|proc|run\/credentials\/.+|sys|var\/lib\/docker\/.+|var\/lib\/containers\/storage\/.+)($|\/)/;
/** node_exporter 1.5's default `--collector.filesystem.fs-types-exclude`. */
export const DEFAULT_FSTYPE_EXCLUDE =
  /^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$/;

export interface Mount {
  device: string;
  mountpoint: string;
  fstype: string;
}

/** Undoes the octal escapes of /proc/mounts (`\040` is a space). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses /proc/self/mounts, drops excluded mounts, keeps one entry per mount point (the last: it is on top). */
export function parseMounts(text: string, mountExclude = DEFAULT_MOUNT_EXCLUDE, fstypeExclude = DEFAULT_FSTYPE_EXCLUDE): Mount[] {
  const byPoint = new Map<string, Mount>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 3) continue;
    const m: Mount = { device: unescapeMount(f[0]!), mountpoint: unescapeMount(f[1]!), fstype: f[2]! };
    if (!m.mountpoint.startsWith('/') || mountExclude.test(m.mountpoint) || fstypeExclude.test(m.fstype)) continue;
    byPoint.delete(m.mountpoint);
    byPoint.set(m.mountpoint, m);
  }
  return [...byPoint.values()];
}

export interface FilesystemCollectorOptions {
  paths?: HostPaths;
  /** Longest wait for one statfs before the mount is skipped. Default: 5000. */
  statfsTimeoutMs?: number;
}

export function createFilesystemCollector(options: FilesystemCollectorOptions = {}): Collector {
  const paths = options.paths ?? DEFAULT_HOST_PATHS;
  const timeoutMs = options.statfsTimeoutMs ?? 5000;
  /** Mount points whose statfs has not returned yet. */
  const stuck = new Set<string>();

  async function measure(m: Mount): Promise<StatsFs | undefined> {
    if (stuck.has(m.mountpoint)) return undefined;
    stuck.add(m.mountpoint);
    const call = statfs(m.mountpoint).then(
      (s: StatsFs) => {
        stuck.delete(m.mountpoint);
        return s;
      },
      () => {
        stuck.delete(m.mountpoint);
        return undefined;
      },
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([call, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    name: 'filesystem',
    metrics: FILESYSTEM_METRICS,
    async collect(_now: CollectTime): Promise<Sample[]> {
      const mounts = parseMounts(readFileSync(join(paths.proc, 'self', 'mounts'), 'utf8'));
      const results = await Promise.all(mounts.map(async (m) => ({ m, s: await measure(m) })));
      const out: Sample[] = [];
      for (const { m, s } of results) {
        if (s === undefined) continue;
        const labels = { mountpoint: m.mountpoint, fstype: m.fstype, device: m.device };
        pushFinite(out, 'node_filesystem_size_bytes', s.blocks * s.bsize, labels);
        pushFinite(out, 'node_filesystem_free_bytes', s.bfree * s.bsize, labels);
        pushFinite(out, 'node_filesystem_avail_bytes', s.bavail * s.bsize, labels);
        pushFinite(out, 'node_filesystem_files', s.files, labels);
        pushFinite(out, 'node_filesystem_files_free', s.ffree, labels);
      }
      return out;
    },
  };
}
