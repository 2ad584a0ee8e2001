/** Fixtures of /proc files (real layouts, made-up numbers) and a helper that writes a fake /proc tree. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export const STAT_1 = `cpu  1000 10 500 8000 100 0 50 0 0 0
cpu0 500 5 250 4000 50 0 25 0 0 0
cpu1 500 5 250 4000 50 0 25 0 0 0
intr 2159510 0 0 0
ctxt 5701453
btime 1700000000
`;

/** 1000 ticks later: user +300, system +100, idle +500, iowait +50, softirq +50. */
export const STAT_2 = `cpu  1300 10 600 8500 150 0 100 0 0 0
cpu0 650 5 300 4250 75 0 50 0 0 0
cpu1 650 5 300 4250 75 0 50 0 0 0
intr 2159999 0 0 0
`;

export const LOADAVG = '2.61 4.87 3.46 2/152 26475\n';

export const MEMINFO = `MemTotal:       24683656 kB
MemFree:        23571832 kB
MemAvailable:   23992264 kB
Buffers:           13148 kB
Cached:           559264 kB
SwapCached:            0 kB
Active(file):     368368 kB
SwapTotal:       2097148 kB
SwapFree:        1048576 kB
HugePages_Total:       0
`;

export const DISKSTATS_1 = `   7       0 loop0 10 0 20 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 1000 50 20000 300 2000 60 40000 500 0 1000 800 0 0 0 0 0 0
 254       1 vda1 900 50 19000 300 1900 60 39000 500 0 900 800 0 0 0 0 0 0
 259       0 nvme0n1 5 0 40 1 0 0 0 0 0 2 1
 259       1 nvme0n1p1 5 0 40 1 0 0 0 0 0 2 1 0 0 0 0
   1       0 ram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 253       0 dm-0 100 0 800 10 100 0 800 10 0 50 20
`;

/** 2 s later: vda +200 reads (+4000 sectors), +100 writes (+2000 sectors), +500 ms busy. */
export const DISKSTATS_2 = `   7       0 loop0 10 0 20 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 1200 50 24000 300 2100 60 42000 500 0 1500 800 0 0 0 0 0 0
 254       1 vda1 1100 50 23000 300 2000 60 41000 500 0 1400 800 0 0 0 0 0 0
 259       0 nvme0n1 5 0 40 1 0 0 0 0 0 2 1
 253       0 dm-0 100 0 800 10 100 0 800 10 0 50 20
`;

export const NETDEV_1 = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 1000 10    0    0    0     0          0         0 1000 10    0    0    0     0       0          0
  eth0: 4294967000 100 1 2 0 0 0 0 5000 50 0 0 0 0 0 0
`;

/** 2 s later: lo +2000 bytes, +20 packets; eth0's rx bytes wrapped at 2^32 (+496 bytes), tx reset to 100. */
export const NETDEV_2 = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 3000 30    0    0    0     0          0         0 3000 30    0    0    0     0       0          0
  eth0: 200 110 1 4 0 0 0 0 100 5 0 0 0 0 0 0
`;

export const MOUNTS = `proc /proc proc rw,relatime 0 0
sysfs /sys sysfs rw,relatime 0 0
devtmpfs /dev devtmpfs rw,relatime 0 0
/dev/vda / ext4 rw,relatime 0 0
tmpfs /dev/shm tmpfs rw,relatime 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
tmpfs /run tmpfs rw 0 0
overlay /var/lib/docker/overlay2/abc/merged overlay rw 0 0
/dev/vdb /mnt/my\\040data xfs rw 0 0
/dev/vdc /run tmpfs rw 0 0
`;

/** Writes `files` (path relative to the root -> content) under `root`. */
export async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const p = join(root, rel);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, content);
  }
}
