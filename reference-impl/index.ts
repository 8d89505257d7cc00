// Entry point of the executable reference implementation. The harness talks to it
// only through this class (in process) or through `privmem-cts serve` (protocol).
import type { ProfileName, Spec } from "../spec/index.js";
import { packageVersion } from "../spec/paths.js";
import { CONTRACT_VERSION, DriverFailure, type Handshake, type Op, type OpResult, type ResetReport } from "../spec/driver/contract.js";
import { dispatch } from "./dispatch.js";
import { ERRNO_NAMES } from "./lib/errno.js";
import { Kernel, KernelConfig } from "./kernel.js";
import { probeFeatures } from "./system/features.js";
import { hostModel, type HostModel } from "./system/hosts.js";
import { revisionOf } from "./system/revision.js";

export interface ReferenceOptions {
  profile: ProfileName;
  /** a host model name (see reference-impl/system/hosts.ts), or a model made from a probed host */
  host: string | HostModel;
  /** check the model's invariants after every operation */
  checkInvariants?: boolean;
}


export class ReferenceKernel {
  readonly handshake: Handshake;
  private readonly config: KernelConfig;
  private kernel: Kernel;

  constructor(
    readonly spec: Spec,
    readonly options: ReferenceOptions,
  ) {
    let config: KernelConfig;
    try {
      config = new KernelConfig(spec, options.profile, hostModel(options.host), revisionOf(options.profile));
    } catch (err) {
      throw new DriverFailure("unsupported", err instanceof Error ? err.message : String(err));
    }
    const missing = ERRNO_NAMES.filter((e) => spec.errnoNumber(e) === undefined);
    if (missing.length > 0) throw new Error(`reference model: errno names not in the spec: ${missing.join(", ")}`);
    this.config = config;
    this.kernel = new Kernel(config);
    const host = config.host;
    this.handshake = {
      contractVersion: CONTRACT_VERSION,
      name: "reference",
      version: packageVersion(),
      profile: options.profile,
      features: probeFeatures(this.kernel),
      host: {
        kernel: `model:${host.name}`,
        arch: host.arch,
        pageSize: host.pageSize,
        description: host.description,
        vmTypes: [...host.vmTypes],
        tdp: host.tdp,
        memoryAttributes: host.memoryAttributes,
      },
    };
  }

  call(op: Op): OpResult {
    const result = dispatch(this.kernel, op);
    if (this.options.checkInvariants) this.kernel.checkInvariants();
    return result;
  }

  /** Release everything the session holds; the next case starts on a fresh kernel. */
  reset(): ResetReport {
    let fds = 0;
    let mappings = 0;
    let processes = 0;
    for (const p of [...this.kernel.processes.values()].reverse()) {
      // The first process's standard descriptors are part of a clean session.
      fds += p.files.descriptors().filter((fd) => p.pid !== 0n || fd > 2).length;
      mappings += p.exit()[1];
      if (p.pid !== 0n) processes++;
    }
    this.kernel = new Kernel(this.config);
    return { released: { fds, mappings, processes } };
  }

  /** The kernel instance, for the model's own unit tests. */
  get machine(): Kernel {
    return this.kernel;
  }
}
