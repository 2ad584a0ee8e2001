/**
 * Lifecycle of a process: components start in the order they were added and stop in reverse order.
 * SIGINT/SIGTERM stop the process cleanly (exit code 0); a second signal during the stop forces exit
 * (code 130). A component that fails to start stops those already started, and the process exits 1.
 */
import type { Logger } from './log.js';
import { FlotillaError } from './errors.js';

export interface Component {
  /** Shown in logs. */
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export const ExitCode = {
  OK: 0,
  /** A runtime failure. */
  FAILURE: 1,
  /** Bad usage or configuration. */
  USAGE: 2,
  /** Forced by a second interrupt. */
  INTERRUPTED: 130,
} as const;

export interface LifecycleOptions {
  logger: Logger;
  /** Longest a whole stop may take before the process exits anyway. Default 10 000 ms. */
  stopTimeoutMs?: number;
}

export class Lifecycle {
  private readonly components: Component[] = [];
  private readonly started: Component[] = [];
  private stopping: Promise<void> | undefined;
  private readonly logger: Logger;
  private readonly stopTimeoutMs: number;
  private readonly stopped: Promise<void>;
  private resolveStopped!: () => void;

  constructor(options: LifecycleOptions) {
    this.logger = options.logger;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 10_000;
    this.stopped = new Promise((resolve) => {
      this.resolveStopped = resolve;
    });
  }

  add<C extends Component>(component: C): C {
    this.components.push(component);
    return component;
  }

  /** Starts every component in order; on failure stops the ones started and rethrows. */
  async start(): Promise<void> {
    for (const c of this.components) {
      if (this.stopping !== undefined) return;
      try {
        await c.start();
        this.started.push(c);
        this.logger.debug({ component: c.name }, 'started');
      } catch (err) {
        this.logger.debug({ component: c.name, err }, 'start failed');
        await this.stop();
        throw FlotillaError.from(err);
      }
    }
  }

  /** Stops started components in reverse order; safe to call more than once. */
  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  /** Resolves once stop() has finished. */
  whenStopped(): Promise<void> {
    return this.stopped;
  }

  private async stopAll(): Promise<void> {
    while (this.started.length > 0) {
      const c = this.started.pop()!;
      try {
        await c.stop();
        this.logger.debug({ component: c.name }, 'stopped');
      } catch (err) {
        this.logger.error({ component: c.name, err: FlotillaError.from(err).message }, 'stop failed');
      }
    }
    this.resolveStopped();
  }

  /**
   * Stops on SIGINT/SIGTERM and exits with code 0 when done (a forced exit after stopTimeoutMs, or on a
   * second signal). Returns a function that removes the handlers.
   */
  handleSignals(onSignal?: (signal: NodeJS.Signals) => void): () => void {
    let count = 0;
    const handler = (signal: NodeJS.Signals): void => {
      count += 1;
      if (count > 1) {
        this.logger.warn({ signal }, 'second signal: exiting now');
        process.exit(ExitCode.INTERRUPTED);
      }
      onSignal?.(signal);
      this.logger.info({ signal }, 'stopping');
      const timer = setTimeout(() => {
        this.logger.error({ timeoutMs: this.stopTimeoutMs }, 'stop took too long: exiting');
        process.exit(ExitCode.FAILURE);
      }, this.stopTimeoutMs);
      timer.unref();
      this.stop().then(
        () => {
          clearTimeout(timer);
          process.exit(ExitCode.OK);
        },
        () => process.exit(ExitCode.FAILURE),
      );
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    return () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    };
  }
}
