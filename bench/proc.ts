/** CPU time of processes from Linux's /proc, for the benchmarks' CPU-per-operation figures. */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** /proc/<pid>/stat counts CPU time in USER_HZ ticks, 100 per second on Linux. */
const TICKS_PER_SECOND = 100;

/** utime + stime of a /proc/<pid>/stat text, in seconds (fields after the command name, which may hold spaces). */
function statCpuSeconds(stat: string): number {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
}

/** CPU seconds (user + system) a process has used so far. */
export async function cpuSeconds(pid: number): Promise<number> {
  return statCpuSeconds(await readFile(`/proc/${pid}/stat`, 'utf8'));
}

/** CPU seconds (user + system) the processes have used so far, together; 0 for one that is gone. */
export function cpuSecondsOfAll(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += statCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      // exited
    }
  }
  return total;
}
