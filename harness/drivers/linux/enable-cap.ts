// KVM_ENABLE_CAP changes how the kernel treats a VM or vCPU, and some capabilities
// reach past the case: KVM_CAP_X86_DISABLE_EXITS lets a guest keep a host CPU,
// KVM_CAP_HALT_POLL makes the host spin, KVM_CAP_VM_COPY_ENC_CONTEXT_FROM takes
// another fd in args[0], KVM_CAP_DIRTY_LOG_RING sizes a kernel allocation from
// args[0]. The linux driver therefore lets through only the capabilities the
// suites enable, with their arguments checked, before the kernel sees the struct.
import type { ProfileName, Spec } from "../../../spec/index.js";
import type { Decoded } from "../../../spec/codec.js";
import { DriverFailure } from "../../../spec/driver/contract.js";

/**
 * The capabilities the suites enable. For both, args[0] and flags reach the kernel
 * unchanged because the kernel refuses a bad value before it changes anything
 * (kvm_vm_ioctl_enable_cap() in arch/x86/kvm/x86.c returns EINVAL for non-zero
 * flags first; KVM_CAP_EXIT_HYPERCALL refuses bits outside
 * KVM_EXIT_HYPERCALL_VALID_MASK, KVM_CAP_SPLIT_IRQCHIP more than
 * MAX_NR_RESERVED_IOAPIC_PINS routes), and the suites test those refusals
 * (ATTR-021, VMTYPE-016). Neither reads args[1..3].
 */
export const ENABLE_CAP_ALLOWLIST: readonly string[] = ["KVM_CAP_EXIT_HYPERCALL", "KVM_CAP_SPLIT_IRQCHIP"];

/** Throws a protocol DriverFailure unless the decoded kvm_enable_cap may reach the kernel. */
export function checkEnableCap(spec: Spec, profile: ProfileName, values: { [f: string]: Decoded }): void {
  const cap = values.cap as bigint;
  const allowed = ENABLE_CAP_ALLOWLIST.filter((name) => spec.constant(name, profile) === cap);
  if (allowed.length === 0)
    throw new DriverFailure(
      "protocol",
      `KVM_ENABLE_CAP: capability ${cap} is not one the linux driver enables (only ${ENABLE_CAP_ALLOWLIST.join(", ")} in profile ${profile}); other capabilities could change the host beyond the case`,
    );
  const args = values.args as bigint[];
  const extra = args.findIndex((a, i) => i > 0 && a !== 0n);
  if (extra > 0) throw new DriverFailure("protocol", `KVM_ENABLE_CAP(${allowed[0]}): args[${extra}] = ${args[extra]}, but the kernel reads only args[0] for this capability; the linux driver passes the others only as 0`);
  if ((values.pad as bigint[]).some((b) => b !== 0n)) throw new DriverFailure("protocol", `KVM_ENABLE_CAP(${allowed[0]}): pad is not zero`);
}
