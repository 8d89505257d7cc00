// Host models: the kernel configuration and hardware the model pretends to run on.
// Capability values follow from these facts the way KVM computes them.
import type { VmTypeName } from "../arch/x86/vm-types.js";

/** s390 facilities KVM checks (arch/s390/kvm/kvm-s390.c) */
export interface S390Host {
  /** CONFIG_KVM_S390_UCONTROL: user-controlled VMs (KVM_VM_S390_UCONTROL, KVM_CAP_S390_UCONTROL) */
  ucontrol: boolean;
  /** is_prot_virt_host(): the Ultravisor runs protected VMs (KVM_CAP_S390_PROTECTED, KVM_S390_PV_COMMAND) */
  protectedVirtualization: boolean;
  /** sclp.hamax: the highest guest address the machine can back; kvm->arch.mem_limit is one past it */
  hamax: bigint;
}

/** arm64 facts KVM checks (arch/arm64/kvm/arm.c, mmu.c, reset.c) */
export interface Arm64Host {
  /** kvm_ipa_limit: the largest guest IPA size (bits) the CPU's PARange allows; KVM_CAP_ARM_VM_IPA_SIZE */
  ipaLimit: number;
  /**
   * kvm-arm.mode: "nvhe" and "vhe" run KVM without protected VMs; "protected" is pKVM, the
   * hypervisor at EL2 isolating guest memory from the host (Documentation/virt/kvm/arm/pkvm.rst)
   */
  mode: "nvhe" | "vhe" | "protected";
  /** Arm CCA: the CPU has RME and an RMM answers RMI at R-EL2, so KVM (VHE only) can run realms */
  rme?: boolean;
  /**
   * Gunyah is the hypervisor at EL2 and KVM's uAPI is served on it (arch/arm64/gunyah): every
   * VM is a Gunyah VM whose guest_memfd pages are lent on demand
   */
  gunyah?: boolean;
}

export interface HostModel {
  name: string;
  description: string;
  /** the machine (uname -m), reported in the handshake; suites name the one they are written for */
  arch: "x86_64" | "s390x" | "aarch64";
  /** s390 facilities; null on x86_64 */
  s390: S390Host | null;
  /** arm64 facts; absent on the other machines */
  arm64?: Arm64Host;
  /** CONFIG_HAVE_KVM_READONLY_MEM: KVM_MEM_READONLY exists (x86, arm64; not s390) */
  readonlyMem: boolean;
  pageSize: number;
  /** x86 VM types in KVM_CAP_VM_TYPES (kvm_caps.supported_vm_types); none on s390 */
  vmTypes: readonly VmTypeName[];
  /** CONFIG_KVM_GENERIC_MEMORY_ATTRIBUTES: KVM_SET_MEMORY_ATTRIBUTES exists */
  memoryAttributes: boolean;
  /** CONFIG_KVM_GUEST_MEMFD */
  guestMemfd: boolean;
  /**
   * The guest_memfd flags this host's KVM offers, where it offers fewer than its release
   * defines (a probed host); undefined: every flag of the release.
   */
  guestMemfdFlags?: readonly ("mmap" | "init-shared")[];
  /** two-dimensional paging (EPT/NPT); without it KVM uses shadow paging and cannot pre-fault */
  tdp: boolean;
  /** CONFIG_KVM_SMM: a second memslot address space for default VMs */
  smm: boolean;
  /** CONFIG_MEMORY_FAILURE: madvise(MADV_HWPOISON) */
  memoryFailure: boolean;
  /** guest physical address bits KVM's MMU can map (kvm_mmu_max_gfn) */
  gpaBits: number;
  /** NUMA nodes with memory (node_states[N_MEMORY]): nodes 0..numaNodes-1 */
  numaNodes: number;
  /** KVM_CAP_NR_VCPUS: online host CPUs */
  onlineCpus: number;
  /** KVM_MAX_VCPUS */
  maxVcpus: number;
  /** KVM_MAX_VCPU_IDS */
  maxVcpuIds: number;
  /**
   * TASK_SIZE (= TASK_SIZE_MAX for a 64-bit process with 4-level paging): the end of the
   * user address space. mmap/munmap check against it; access_ok() uses it from 6.12 only
   * (system/revision.ts userPtrMax, process/uaccess.ts accessOk).
   */
  taskSize: bigint;
  /**
   * kvm.vm_memory_attributes, the read-only module parameter of the in-place conversion
   * series (revision.gmemInPlaceConversion; CONV-004): per-VM memory attributes are in use
   * (true, the default) or guest_memfd tracks shared/private itself (false). Releases
   * without the series have no such parameter and ignore it.
   */
  vmMemoryAttributes?: boolean;
  /**
   * /sys/kernel/mm/transparent_hugepage/shmem_enabled (mm/shmem.c shmem_enabled_store): the
   * huge-page policy of the kernel's internal shmem mount; "never" when absent (the default).
   * Modelled for the restricted file of UPM only (process/shmem-huge.ts); memfd_create files
   * stay order 0 in the model whatever this says.
   */
  shmemHuge?: "never" | "always" | "within_size" | "advise" | "deny" | "force";
}

const X86_COMMON = {
  arch: "x86_64",
  s390: null,
  readonlyMem: true,
  pageSize: 4096,
  guestMemfd: true,
  maxVcpus: 1024,
  maxVcpuIds: 4096,
  taskSize: 0x7ffffffff000n,
} as const;

/**
 * What every arm64 host model shares. KVM_MAX_VCPUS is 512 on arm64 and GICv3 allows as many
 * (kvm_vgic_get_max_vcpus); TASK_SIZE is 2^48 with 48-bit VAs. Memory attributes never
 * exist on arm64 (no KVM_GENERIC_MEMORY_ATTRIBUTES), nor SMM, nor pre-faulting.
 */
const ARM64_COMMON = {
  arch: "aarch64",
  s390: null,
  readonlyMem: true,
  pageSize: 4096,
  vmTypes: [],
  memoryAttributes: false,
  guestMemfd: true,
  tdp: true,
  smm: false,
  memoryFailure: false,
  gpaBits: 48,
  numaNodes: 1,
  onlineCpus: 8,
  maxVcpus: 512,
  maxVcpuIds: 512,
  taskSize: 1n << 48n,
} as const;

const FULL: HostModel = {
  ...X86_COMMON,
  name: "full",
  description: "x86_64 with TDP, SMM, memory attributes, every VM type and memory-failure injection",
  vmTypes: ["default", "sw-protected", "sev", "sev-es", "snp", "tdx"],
  memoryAttributes: true,
  tdp: true,
  smm: true,
  memoryFailure: true,
  gpaBits: 52,
  numaNodes: 2,
  onlineCpus: 8,
};

export const HOSTS: Readonly<Record<string, HostModel>> = {
  full: FULL,
  // The full host booted with kvm.vm_memory_attributes=0: where the release has the in-place
  // conversion series (conv-v7), guest_memfd keeps shared/private per page and per-VM
  // attributes are off. Elsewhere it is the full host.
  "full-inplace": {
    ...FULL,
    name: "full-inplace",
    description: "the full host with per-VM attributes off (in-place conversion: guest_memfd attributes instead of per-VM ones; conv-v7: kvm.vm_memory_attributes=0, conv-v8: built without CONFIG_KVM_VM_MEMORY_ATTRIBUTES)",
    vmMemoryAttributes: false,
  },
  // Probed from this project's CI machine (Linux 6.18, PVM): KVM_CAP_VM_TYPES 0x1,
  // MEMORY_ATTRIBUTES 0, PRE_FAULT_MEMORY 0, MULTI_ADDRESS_SPACE 0 (no SMM),
  // NR_VCPUS 2, MAX_VCPUS 1024, MAX_VCPU_ID 4096, NR_MEMSLOTS 32764.
  pvm: {
    ...X86_COMMON,
    name: "pvm",
    description: "a PVM-style host: default VM type only, shadow paging, no memory attributes, no SMM",
    vmTypes: ["default"],
    memoryAttributes: false,
    tdp: false,
    smm: false,
    memoryFailure: false,
    gpaBits: 52,
    numaNodes: 1,
    onlineCpus: 2,
  },
  // An IBM Z machine with protected virtualization (z15 or later with the Ultravisor) and a
  // kernel built with CONFIG_KVM_S390_UCONTROL. Only the memslot rules of SLOT2-024 and the
  // VM set-up they need are modelled; s390 guests do not run (arch/s390/vm-type.ts).
  s390: {
    name: "s390",
    description: "s390x with protected virtualization and user-controlled VMs (memslot rules only; no guest execution)",
    arch: "s390x",
    // hamax is a model choice (2^53 - 1), below TASK_SIZE_MAX so every revision's mem_limit agrees.
    s390: { ucontrol: true, protectedVirtualization: true, hamax: (1n << 53n) - 1n },
    readonlyMem: false,
    pageSize: 4096,
    vmTypes: [],
    memoryAttributes: false,
    guestMemfd: false,
    tdp: false,
    smm: false,
    memoryFailure: false,
    gpaBits: 64,
    numaNodes: 1,
    onlineCpus: 2,
    maxVcpus: 255,
    maxVcpuIds: 255,
    // TASK_SIZE_MAX = -PAGE_SIZE (arch/s390/include/asm/processor.h)
    taskSize: 0xfffffffffffff000n,
  },
  // An arm64 server (GICv3, 48-bit PARange, 4 KiB pages) running KVM without pKVM: default
  // VMs only, guest_memfd where the release has it for arm64 (6.18: gmem-only memslots).
  arm64: {
    ...ARM64_COMMON,
    name: "arm64",
    description: "arm64 (aarch64) with KVM in nVHE/VHE mode: default VMs with a chosen IPA size, no protected VMs",
    arm64: { ipaLimit: 48, mode: "vhe" },
  },
  // The same machine booted with kvm-arm.mode=protected (pKVM): protected VMs
  // (KVM_VM_TYPE_ARM_PROTECTED) next to normal ones, their memory in guest_memfd as the
  // guest_memfd-for-pKVM designs have it (arch/arm64/pkvm). Read-only memslots are
  // unsupported for every VM under pKVM, and memslots are fixed once a VM has run.
  "arm64-pkvm": {
    ...ARM64_COMMON,
    name: "arm64-pkvm",
    description: "arm64 with pKVM (kvm-arm.mode=protected): protected VMs whose guest_memfd pages the hypervisor donates, shares and reclaims",
    arm64: { ipaLimit: 48, mode: "protected" },
    // UNCONFIRMED how the capability reads: pkvm.rst says read-only memslots are unsupported.
    readonlyMem: false,
  },
  // The arm64 server with RME and an RMM (RMM v2.0-bet1 for the v14 series): realms where the
  // release has the CCA series (cca-v14), whose arm64 KVM selects KVM_GENERIC_MEMORY_ATTRIBUTES.
  "arm64-cca": {
    ...ARM64_COMMON,
    name: "arm64-cca",
    description: "arm64 with RME and an RMM (Arm CCA): realm VMs with guest_memfd private memory, where the release has the CCA host series",
    memoryAttributes: true,
    arm64: { ipaLimit: 48, mode: "vhe", rme: true },
  },
  // A Qualcomm arm64 machine whose EL2 hypervisor is Gunyah, booted with rodata=full (lending
  // takes pages out of the direct map: can_set_direct_map()), KVM's uAPI served on Gunyah.
  // The guest_memfd semantics follow E. Berman's Gunyah series on seed 002's library
  // (arch/arm64/gunyah/README.md); out of tree, so only the model runs it.
  "arm64-gunyah": {
    ...ARM64_COMMON,
    name: "arm64-gunyah",
    description: "arm64 under the Gunyah hypervisor (out-of-tree design): every VM's guest_memfd pages are lent at the guest's first access and reclaimed when the host touches them",
    arm64: { ipaLimit: 48, mode: "nvhe", gunyah: true },
  },
  // The full host with shmem THP on for the internal mount (echo always, or within_size, >
  // /sys/kernel/mm/transparent_hugepage/shmem_enabled): seed 000's case, where one fallocated
  // page of a restricted file may take a whole 2 MiB folio. Modelled for UPM's restricted file only.
  "full-shmem-huge": {
    ...FULL,
    name: "full-shmem-huge",
    description: "the full host with shmem_enabled=always: the restricted file of UPM allocates 2 MiB folios (memfd_create files are not modelled with huge folios)",
    shmemHuge: "always",
  },
  "full-shmem-within-size": {
    ...FULL,
    name: "full-shmem-within-size",
    description: "the full host with shmem_enabled=within_size: the restricted file of UPM allocates a 2 MiB folio where the file covers the whole aligned 2 MiB (memfd_create files are not modelled with huge folios)",
    shmemHuge: "within_size",
  },
};

/**
 * What a driver for a real kernel probed (its handshake's features and host facts),
 * enough to configure the model as that host.
 */
export interface ProbedHost {
  features: readonly string[];
  host: { kernel: string; arch: string; pageSize: number; capabilities?: Record<string, unknown>; [fact: string]: unknown };
}

/**
 * A host model for a real host, from what its driver probed: VM types, guest_memfd and its
 * flags, memory attributes, TDP (pre-fault), SMM (a second address space), read-only
 * memslots and the vCPU count follow from features and capability values. What no probe
 * reports keeps the x86 defaults (52 GPA bits, KVM's vCPU limits; two NUMA nodes where numa:multi-node was probed, else one), and
 * memory-failure injection is off, as in the linux driver.
 */
export function hostFromProbe(probed: ProbedHost): HostModel {
  const { host, features } = probed;
  if (host.arch !== "x86_64") throw new Error(`reference model: a probed ${host.arch} host cannot be modelled (x86_64 only)`);
  const has = (f: string) => features.includes(f);
  const cap = (name: string): number | undefined => {
    const v = host.capabilities?.[name];
    return typeof v === "number" ? v : undefined;
  };
  const vmTypes = VM_TYPES_PROBED.filter((t) => has(`vm-type:${t}`));
  const guestMemfd = has("guest-memfd");
  return hostModel({
    ...X86_COMMON,
    name: `probed:${host.kernel}`,
    description: `the host ${host.kernel} as its driver probed it (${features.join(" ")})`,
    pageSize: host.pageSize,
    readonlyMem: has("readonly-mem"),
    vmTypes,
    memoryAttributes: has("memory-attributes"),
    guestMemfd,
    guestMemfdFlags: guestMemfd ? (["mmap", "init-shared"] as const).filter((f) => has(`gmem-flag:${f}`)) : [],
    tdp: has("pre-fault-memory"),
    smm: has("multi-address-space"),
    memoryFailure: false,
    gpaBits: 52,
    // numa:multi-node says nodes 0 and 1 have memory; no probe counts further
    numaNodes: has("numa:multi-node") ? 2 : 1,
    onlineCpus: cap("KVM_CAP_NR_VCPUS") ?? 1,
  });
}

const VM_TYPES_PROBED: readonly VmTypeName[] = ["default", "sw-protected", "sev", "sev-es", "snp", "tdx"];

/** A named host model, or a host model given whole (one made by hostFromProbe), checked for consistency. */
export function hostModel(nameOrModel: string | HostModel): HostModel {
  const host = typeof nameOrModel === "string" ? HOSTS[nameOrModel] : nameOrModel;
  const name = typeof nameOrModel === "string" ? nameOrModel : nameOrModel.name;
  if (!host) throw new Error(`reference model: unknown host model "${name}" (known: ${Object.keys(HOSTS).join(", ")})`);
  const privateTypes = host.vmTypes.filter((t) => t === "sw-protected" || t === "snp" || t === "tdx");
  if (privateTypes.length > 0 && !(host.memoryAttributes && host.guestMemfd))
    throw new Error(`host model ${name}: VM types ${privateTypes.join(", ")} need memory attributes and guest_memfd built in`);
  if (host.vmTypes.includes("sw-protected") && !host.tdp) throw new Error(`host model ${name}: SW_PROTECTED VMs need the TDP MMU`);
  return host;
}
