/** The agent's own shape of a batch (domain side; converted to the wire's MetricBatch when sent). */

export interface BufferedSample {
  timeMs: number;
  metric: string;
  value: number;
  labels: Record<string, string>;
}

export interface BufferedBatch {
  /** 1, 2, 3, ... for the lifetime of the agent process. */
  seq: number;
  samples: BufferedSample[];
  /** Made while no stream was open: it will be sent late (backlog). */
  createdOffline: boolean;
}
