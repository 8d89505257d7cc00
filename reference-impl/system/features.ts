// The handshake's features, found the way a driver for a real kernel finds them:
// by asking the model's own /dev/kvm (KVM_CHECK_EXTENSION), never from a version.
import { SNP_GUEST_ACTIONS } from "../arch/x86/sev-snp.js";
import { TDX_GUEST_ACTIONS } from "../arch/x86/tdx/guest.js";
import { arm64VmTypeFor } from "../arch/arm64/create-vm.js";
import { VM_TYPE_NAMES } from "../arch/x86/vm-types.js";
import type { Kernel } from "../kernel.js";
import { checkExtension, vmTypeNumber, vmTypesMask } from "./capabilities.js";
import { CCA_ACTIONS } from "../arch/arm64/cca/rsi.js";

export function probeFeatures(kernel: Kernel): string[] {
  const C = kernel.K.cap;
  const cap = (n: number | bigint | undefined): bigint => (n === undefined ? 0n : checkExtension(kernel, null, BigInt(n)));
  const features = ["kvm", "process:fork", "fault-injection"];
  // The model runs the contract's guest programs on x86 and arm64 (not s390).
  if (kernel.host.arch === "x86_64" || kernel.host.arch === "aarch64") features.push("guest-run", "guest-run:high-gpa");
  if (cap(C.READONLY_MEM) > 0n) features.push("readonly-mem");
  if (cap(C.S390_UCONTROL) > 0n) features.push("s390:ucontrol");
  if (cap(C.S390_PROTECTED) > 0n) features.push("s390:protected");
  // CONFIG_KVM_GENERIC_PRE_FAULT_MEMORY: x86's alone in these releases; elsewhere the request is ENOTTY.
  if (kernel.R.KVM_PRE_FAULT_MEMORY !== undefined && kernel.host.arch === "x86_64") features.push("pre-fault-ioctl");
  if (cap(C.USER_MEMORY2) > 0n) features.push("user-memory2");
  if (cap(C.GUEST_MEMFD) > 0n) features.push("guest-memfd");
  // RFC v11 had KVM_CREATE_GUEST_MEMFD but no capability: the request itself is the probe.
  else if (C.GUEST_MEMFD === undefined && kernel.R.KVM_CREATE_GUEST_MEMFD !== undefined && kernel.host.guestMemfd) features.push("guest-memfd");
  const flags = cap(C.GUEST_MEMFD_FLAGS);
  if (flags & kernel.K.gmemFlag.MMAP) features.push("gmem-flag:mmap");
  if (flags & kernel.K.gmemFlag.INIT_SHARED) features.push("gmem-flag:init-shared");
  if (cap(C.MEMORY_ATTRIBUTES) & kernel.K.ATTRIBUTE_PRIVATE) features.push("memory-attributes");
  if (cap(C.MEMORY_FAULT_INFO) > 0n) features.push("memory-fault-info");
  if (cap(C.PRE_FAULT_MEMORY) > 0n) features.push("pre-fault-memory");
  if (cap(C.MULTI_ADDRESS_SPACE) > 1n) features.push("multi-address-space");
  if (cap(C.EXIT_HYPERCALL) & (1n << kernel.K.hcMapGpaRange)) features.push("exit-hypercall");
  // arm64 has no KVM_CAP_VM_TYPES: KVM_CREATE_VM(0) (a default VM, 40-bit IPA) succeeding is the probe.
  if (cap(C.ARM_VM_IPA_SIZE) > 0n) features.push("arm64:ipa-size", "vm-type:default");
  // pKVM: KVM_CREATE_VM(KVM_VM_TYPE_ARM_PROTECTED) makes a protected VM, whose guests have MEM_SHARE/MEM_UNSHARE.
  if (kernel.host.arm64 && arm64VmTypeFor(kernel, kernel.K.arm64.VM_TYPE_ARM_PROTECTED!)?.name === "arm64-protected")
    features.push("vm-type:arm-protected", "guest-arch:pkvm:share", "guest-arch:pkvm:unshare");
  const types = vmTypesMask(kernel);
  for (const name of VM_TYPE_NAMES) {
    const n = vmTypeNumber(kernel, name);
    if (n !== undefined && types & (1n << n)) features.push(`vm-type:${name}`);
  }
  // The TDX hardware layer (arch/x86/tdx/): the guest's TDCALLs, and #VE reported for a PENDING page.
  if (features.includes("vm-type:tdx")) features.push(...TDX_GUEST_ACTIONS.map((a) => `guest-arch:${a}`), "guest-arch:tdx:ve");
  if (kernel.host.memoryFailure) features.push("memory-failure", "memory-failure:pfn");
  // In-place conversion: KVM_SET_MEMORY_ATTRIBUTES2 on guest_memfd takes PRIVATE; long-term pins are a model operation.
  const gmemAttrs = kernel.config.spec.constant("KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES", kernel.revision.profile);
  if (gmemAttrs !== undefined && cap(gmemAttrs) & kernel.K.ATTRIBUTE_PRIVATE) features.push("gmem-attributes");
  features.push("gup-pin");
  // The model's `disk` tmpfile directory does direct I/O (process/direct-io.ts).
  features.push("o-direct:disk", "open:proc-self-fd");
  // /proc/self/mem: GUP with FOLL_FORCE over the process's mappings (process/proc-mem.ts).
  features.push("open:proc-self-mem");
  // io_uring fixed buffers and userfaultfd registration (process/io-uring.ts, process/userfaultfd.ts)
  features.push("io-uring", "userfaultfd");
  // the modelled process is root with every capability until a case drops one (process/rlimit.ts)
  features.push("cap-ipc-lock");
  // UPM: the memfd_restricted system call exists.
  if (kernel.revision.restrictedmem !== undefined) {
    features.push("restrictedmem");
    if (cap(C.PRIVATE_MEM) > 0n || cap(C.MEMORY_ATTRIBUTES) > 0n) features.push("restrictedmem:private-slots");
  }
  // The SEV-SNP hardware layer runs SNP guests' actions wherever the host offers SNP VMs.
  if (features.includes("vm-type:snp")) features.push(...SNP_GUEST_ACTIONS.map((a) => `guest-arch:${a}`));
  // Arm CCA (in-flight series): realms, and the realm guest program's RSI calls.
  if (cap(C.ARM_RMI) > 0n) features.push("vm-type:arm-realm", ...CCA_ACTIONS.map((a) => `guest-arch:${a}`));
  return features;
}
