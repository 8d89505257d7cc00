// The in-process adapter for the reference implementation: fast, and what c8 and
// mutation tools need (the model runs in the runner's own process).
import { loadSpec } from "../../spec/index.js";
import { DriverFailure, type Driver, type Op, type OpResult } from "../../spec/driver/contract.js";
import { ReferenceKernel, type ReferenceOptions } from "../../reference-impl/index.js";

export function openReference(options: ReferenceOptions): Driver {
  const kernel = new ReferenceKernel(loadSpec(), options);
  let broken: string | undefined;
  const guard = <T>(f: () => T): Promise<T> => {
    if (broken) return Promise.reject(new DriverFailure("crash", broken));
    try {
      return Promise.resolve(f());
    } catch (err) {
      if (err instanceof DriverFailure) return Promise.reject(err);
      // A model bug is an ERROR of this case, never a verdict on the clause.
      return Promise.reject(new DriverFailure("internal", `reference model threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
    }
  };
  return {
    handshake: kernel.handshake,
    call: (op: Op): Promise<OpResult> => guard(() => kernel.call(op)),
    reset: () => guard(() => kernel.reset()),
    close: async () => {},
    abort: (reason?: string) => {
      broken = reason ?? "aborted";
    },
  };
}
