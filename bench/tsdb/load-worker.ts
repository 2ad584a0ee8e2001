/**
 * A worker thread of the ingest load generator: runs an AgentLoad (load-agents.ts) for the hosts it is
 * given, posts its acked batch count every 100 ms, and stops when told.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { AgentLoad, type AgentLoadOptions } from './load-agents.js';

export type WorkerReport = { acked: number; busyMs: number } | { error: string } | { stopped: true };

const load = new AgentLoad(workerData as AgentLoadOptions);
load.start();
const elu0 = performance.eventLoopUtilization();
const report = (): void => {
  try {
    // This thread's busy time (process.cpuUsage() would count every thread of the process).
    const busyMs = performance.eventLoopUtilization(elu0).active;
    parentPort!.postMessage({ acked: load.acked(), busyMs } satisfies WorkerReport);
  } catch (err) {
    parentPort!.postMessage({ error: (err as Error).message } satisfies WorkerReport);
  }
};
const timer = setInterval(report, 100);
parentPort!.on('message', () => {
  clearInterval(timer);
  report();
  void load.stop().then(() => {
    parentPort!.postMessage({ stopped: true } satisfies WorkerReport);
    parentPort!.close();
  });
});
