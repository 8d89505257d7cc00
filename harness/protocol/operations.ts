// Operations a driver does not offer (its handshake's `operations`): a step list
// that names one is skipped before it runs (runner/runner.ts skipReason); a scenario,
// whose operations are known only as it runs, is skipped at the first call of one.
import { offeredOperations, type Driver, type Op, type OpResult } from "../../spec/driver/contract.js";
import { SkipCase } from "../scenario/index.js";
import type { BatchStep } from "../../spec/driver/batch.js";

/** A scenario called an operation the driver does not offer: the case is a SKIP naming it. */
export class OperationAbsent extends SkipCase {
  constructor(readonly op: string) {
    super(`needs operation ${op}, the driver does not offer it`);
    this.name = "OperationAbsent";
  }
}

/** The driver, refusing (OperationAbsent) the operations its handshake does not offer; the driver itself when it offers all. */
export function gateOperations(driver: Driver): Driver {
  let gated = gatedDrivers.get(driver);
  if (gated === undefined) gatedDrivers.set(driver, (gated = gate(driver)));
  return gated;
}

/** One gate per driver, made at its first case (a run's cases share their driver). */
const gatedDrivers = new WeakMap<Driver, Driver>();

function gate(driver: Driver): Driver {
  const offered = offeredOperations(driver.handshake);
  return {
    get handshake() {
      return driver.handshake;
    },
    call: (op: Op): Promise<OpResult> => (offered.has(op.op) ? driver.call(op) : Promise.reject(new OperationAbsent(op.op))),
    // the runner ends a batch before an operation the driver does not offer (case/execute.ts)
    ...(driver.batch !== undefined ? { batch: (steps: BatchStep[], thenReset?: boolean) => driver.batch!(steps, thenReset) } : {}),
    reset: () => driver.reset(),
    close: () => driver.close(),
    abort: (reason?: string) => driver.abort(reason),
  };
}
