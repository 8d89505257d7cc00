// The in-process adapter for the reference implementation: fast, and what c8 and
// mutation tools need (the model runs in the runner's own process).
import { loadSpec } from "../../spec/index.js";
import { DriverFailure, type Driver, type Op, type OpResult, type ResetReport } from "../../spec/driver/contract.js";
import { ReferenceKernel, type ReferenceOptions } from "../../reference-impl/index.js";
import { MAX_BATCH_STEPS, runBatch, type BatchStep } from "../../spec/driver/batch.js";

/** The in-process driver also answers synchronously, for callers that run millions of steps (the fuzzer). */
export interface InProcessDriver extends Driver {
  callSync(op: Op): OpResult;
  resetSync(): ResetReport;
}

/**
 * The reference for a run in this process: the same driver without batches. A batch saves
 * round trips to a driver in another process; in process there are none to save, and planning
 * batches cost the runner more than the model spends on the steps (the served reference,
 * `privmem-cts serve`, offers them; test/harness/batch.test.ts holds both to the same verdicts).
 */
export function openReferenceInProcess(options: ReferenceOptions): Driver {
  const { batch: _batch, handshake, ...rest } = openReference(options);
  const { batch: _limit, ...plain } = handshake;
  return { ...rest, handshake: plain };
}

export function openReference(options: ReferenceOptions): InProcessDriver {
  const kernel = new ReferenceKernel(loadSpec(), options);
  let broken: string | undefined;
  const guardSync = <T>(f: () => T): T => {
    if (broken) throw new DriverFailure("crash", broken);
    try {
      return f();
    } catch (err) {
      if (err instanceof DriverFailure) throw err;
      // A model bug is an ERROR of this case, never a verdict on the clause.
      throw new DriverFailure("internal", `reference model threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  };
  const guard = <T>(f: () => T): Promise<T> => {
    try {
      return Promise.resolve(guardSync(f));
    } catch (err) {
      return Promise.reject(err);
    }
  };
  const call = (op: Op): Promise<OpResult> => guard(() => kernel.call(op));
  return {
    handshake: { ...kernel.handshake, batch: { maxSteps: MAX_BATCH_STEPS } },
    call,
    batch: (steps: BatchStep[]) => runBatch(call, steps),
    reset: () => guard(() => kernel.reset()),
    callSync: (op: Op): OpResult => guardSync(() => kernel.call(op)),
    resetSync: () => guardSync(() => kernel.reset()),
    close: async () => {},
    abort: (reason?: string) => {
      broken = reason ?? "aborted";
    },
  };
}
