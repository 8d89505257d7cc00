// kvm_run after KVM_RUN, decoded with the kvm_run layout of spec/layouts.json:
// the exit reason by name (numbers differ between profiles) and its payload.
import type { ProfileName, Spec } from "../../../spec/index.js";
import type { Decoded } from "../../../spec/codec.js";
import type { ExitInfo, OutValue } from "../../../spec/driver/contract.js";

type Fields = { [f: string]: Decoded };

export class ExitDecoder {
  private readonly names = new Map<bigint, string>();

  constructor(
    private readonly spec: Spec,
    profile: ProfileName,
  ) {
    for (const name of spec.groups.get("exit-reason") ?? []) {
      const v = spec.constant(name, profile);
      if (v !== undefined) this.names.set(v, name);
    }
  }

  name(n: bigint): string {
    return this.names.get(n) ?? `KVM_EXIT_#${n}`;
  }

  decode(kvmRun: Uint8Array): ExitInfo {
    const d = this.spec.codec.decode("kvm_run", kvmRun);
    const reason = this.name(d.exit_reason as bigint);
    const pick = (v: Decoded | undefined, keys: string[]): { [k: string]: OutValue } => Object.fromEntries(keys.map((k) => [k, (v as Fields)[k] as OutValue]));
    switch (reason) {
      case "KVM_EXIT_MEMORY_FAULT":
        return { reason, memory_fault: pick(d.memory_fault, ["flags", "gpa", "size"]) };
      case "KVM_EXIT_MMIO": {
        const mmio = d.mmio as Fields;
        const payload = pick(mmio, ["phys_addr", "len", "is_write"]);
        const len = Math.min(Number(mmio.len as bigint), 8);
        if (mmio.is_write !== 0n) payload.data = Uint8Array.from((mmio.data as bigint[]).slice(0, len).map(Number));
        return { reason, mmio: payload };
      }
      case "KVM_EXIT_IO":
        return { reason, io: pick(d.io, ["direction", "size", "port", "count", "data_offset"]) };
      case "KVM_EXIT_HYPERCALL":
        return { reason, hypercall: pick(d.hypercall, ["nr", "args", "flags"]) };
      case "KVM_EXIT_INTERNAL_ERROR": {
        // "data" means bytes on the wire, so the u64 words are reported as data_u64
        const internal = d.internal as Fields;
        const n = Math.min(Number(internal.ndata as bigint), 16);
        return { reason, internal: { suberror: internal.suberror as bigint, ndata: internal.ndata as bigint, data_u64: (internal.data as bigint[]).slice(0, n) } };
      }
      case "KVM_EXIT_FAIL_ENTRY":
        return { reason, fail_entry: { hardware_entry_failure_reason: d.fail_entry as bigint } };
      default:
        return { reason };
    }
  }
}
