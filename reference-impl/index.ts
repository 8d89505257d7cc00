// Entry point of the executable reference implementation. The harness talks to it
// only through this class (in process) or through `privmem-cts serve` (protocol).
import type { ProfileName, Spec } from "../spec/index.js";
import { DriverFailure, type Handshake, type Op, type OpResult, type ResetReport } from "../harness/driver/contract.js";

export interface ReferenceOptions {
  profile: ProfileName;
  /** a host model name (see reference-impl/system/hosts.ts) */
  host: string;
  /** check the model's invariants after every operation */
  checkInvariants?: boolean;
}

export class ReferenceKernel {
  readonly handshake: Handshake;

  constructor(readonly spec: Spec, readonly options: ReferenceOptions) {
    this.handshake = {
      contractVersion: "1.0",
      name: "reference",
      version: "0.0.0",
      profile: options.profile,
      features: [],
      host: { kernel: "model", arch: "x86_64", pageSize: 4096 },
    };
  }

  call(op: Op): OpResult {
    throw new DriverFailure("unsupported", `the reference model does not implement ${op.op} yet`);
  }

  reset(): ResetReport {
    return { released: { fds: 0, mappings: 0, processes: 0 } };
  }
}
