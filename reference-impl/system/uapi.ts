// uAPI numbers of one profile, resolved from spec/constants.json once when the model
// starts: every call afterwards reads plain fields. The names are the spec's (a group's
// names without their common prefix), never a second list kept by hand.
import type { IoctlDef, ProfileName, Spec } from "../../spec/index.js";

/** A group of constants by their short names; a name the spec defines in another profile only reads as undefined. */
export type ConstantGroup<T extends number | bigint> = Readonly<Record<string, T>>;

/**
 * How a group of `K` is read from spec/constants.json: every name of the spec's `group` that
 * starts with one of `prefixes` (tried in order; "" keeps the whole name), without the prefix
 * and the `suffix`. The names are the spec's: adding a constant there adds it here.
 */
interface GroupRule {
  group: string;
  prefixes: string[];
  suffix?: string;
}

const NUMBER_GROUPS = {
  cap: { group: "cap", prefixes: ["KVM_CAP_"] },
  falloc: { group: "fallocate-mode", prefixes: ["FALLOC_FL_"] },
  prot: { group: "mmap", prefixes: ["PROT_"] },
  map: { group: "mmap", prefixes: ["MAP_"] },
  madv: { group: "madvise", prefixes: ["MADV_"] },
  o: { group: "open-flag", prefixes: ["O_"] },
  f: { group: "fcntl", prefixes: ["F_", ""] },
  seek: { group: "seek", prefixes: ["SEEK_"] },
  mfd: { group: "memfd-flag", prefixes: ["MFD_"] },
  s: { group: "stat-mode", prefixes: ["S_"] },
  mpol: { group: "mempolicy", prefixes: ["MPOL_"] },
  rwf: { group: "rwf", prefixes: ["RWF_"] },
  fadv: { group: "fadvise", prefixes: ["POSIX_FADV_"] },
  syncRange: { group: "sync-file-range", prefixes: ["SYNC_FILE_RANGE_"] },
  /** F_RDLCK -> RDLCK, F_OFD_SETLK -> OFD_SETLK, LOCK_SH -> SH */
  lock: { group: "file-lock", prefixes: ["F_", "LOCK_"] },
  utime: { group: "utime", prefixes: ["UTIME_"] },
  splice: { group: "splice", prefixes: ["SPLICE_F_", ""] },
} satisfies Record<string, GroupRule>;

const BIGINT_GROUPS = {
  mem: { group: "memslot-flag", prefixes: ["KVM_MEM_"] },
  gmemFlag: { group: "gmem-flag", prefixes: ["GUEST_MEMFD_FLAG_"] },
  vmType: { group: "vm-type", prefixes: ["KVM_X86_"], suffix: "_VM" },
  s390: { group: "s390", prefixes: ["KVM_"] },
  /** the arm64 machine type's IPA bits, the SMCCC return codes and pKVM's hypercall ids */
  arm64: { group: "arm64", prefixes: ["KVM_", ""] },
  /** enum sev_cmd_id and the SNP page types (profiles without SNP define none) */
  sev: { group: "memory-encryption", prefixes: ["KVM_SEV_"] },
  /** enum kvm_tdx_cmd_id (profiles without TDX define none) */
  tdx: { group: "memory-encryption", prefixes: ["KVM_TDX_"] },
} satisfies Record<string, GroupRule>;

/** Names the model reads as 0 where a profile does not define them (a flag that does not exist sets no bit). */
const ZERO_WHEN_UNDEFINED: Partial<Record<keyof typeof NUMBER_GROUPS | keyof typeof BIGINT_GROUPS, string[]>> = {
  gmemFlag: ["MMAP", "INIT_SHARED"],
  tdx: ["MEASURE_MEMORY_REGION"],
  /** 6.17+: the profiles before it do not define it */
  falloc: ["WRITE_ZEROES"],
};

function shortName(name: string, rule: GroupRule): string | undefined {
  const prefix = rule.prefixes.find((p) => name.startsWith(p));
  if (prefix === undefined) return undefined;
  const rest = name.slice(prefix.length);
  return rule.suffix !== undefined && rest.endsWith(rule.suffix) ? rest.slice(0, -rule.suffix.length) : rest;
}

/**
 * One group of `K`. Its own properties are the names defined in this profile. A name the
 * spec defines only in other profiles reads as undefined (or 0 where ZERO_WHEN_UNDEFINED
 * says so), and a name the spec does not define at all throws: a typo in the model fails
 * at its first use, not silently.
 */
function constantGroup<T extends number | bigint>(spec: Spec, profile: ProfileName, key: string, rule: GroupRule, convert: (v: bigint) => T): ConstantGroup<T> {
  const values = spec.constantsFor(profile);
  const known = new Set<string>();
  const fallback = new Proxy({} as Record<string, T>, {
    get(_t, prop) {
      if (typeof prop !== "string" || !/^[A-Z][A-Z0-9_]*$/.test(prop)) return undefined;
      if (known.has(prop)) return undefined;
      throw new Error(`reference model: K.${key}.${prop} names no constant of group ${rule.group} in spec/constants.json`);
    },
  });
  const group = Object.create(fallback) as Record<string, T>;
  for (const name of spec.groups.get(rule.group) ?? []) {
    const short = shortName(name, rule);
    if (short === undefined) continue;
    known.add(short);
    const v = values.get(name);
    if (v !== undefined) group[short] = convert(v);
  }
  for (const name of ZERO_WHEN_UNDEFINED[key as keyof typeof ZERO_WHEN_UNDEFINED] ?? []) if (!(name in group)) group[name] = convert(0n);
  return Object.freeze(group);
}

function groups<G extends Record<string, GroupRule>, T extends number | bigint>(spec: Spec, profile: ProfileName, rules: G, convert: (v: bigint) => T): { [K in keyof G]: ConstantGroup<T> } {
  return Object.fromEntries(Object.entries(rules).map(([key, rule]) => [key, constantGroup(spec, profile, key, rule, convert)])) as { [K in keyof G]: ConstantGroup<T> };
}

/**
 * The uAPI numbers the model uses, read from spec/constants.json for one profile: the groups
 * above by their short names, and a few single constants by their spec names.
 */
export function resolveConstants(spec: Spec, profile: ProfileName) {
  const values = spec.constantsFor(profile);
  const need = (name: string): bigint => {
    const v = values.get(name);
    if (v === undefined) throw new Error(`reference model: spec constant ${name} is not defined in ${profile}`);
    return v;
  };
  const num = groups(spec, profile, NUMBER_GROUPS, Number);
  const big = groups(spec, profile, BIGINT_GROUPS, (v) => v);
  return {
    ...num,
    ...big,
    /** O_ACCMODE: the access-mode bits */
    o: Object.freeze(Object.setPrototypeOf({ ...num.o, ACCMODE: num.o.RDONLY! | num.o.WRONLY! | num.o.RDWR! }, Object.getPrototypeOf(num.o) as object) as ConstantGroup<number>),
    snpPageTypes: ["NORMAL", "ZERO", "UNMEASURED", "SECRETS", "CPUID"].map((t) => big.sev[`SNP_PAGE_TYPE_${t}`]).filter((v): v is bigint => v !== undefined),
    apiVersion: need("KVM_API_VERSION"),
    /** _IOC_TYPE of every KVM ioctl */
    kvmio: Number(need("KVMIO")),
    /** KVM_MAX_CPUID_ENTRIES (arch/x86/include/asm/kvm_host.h) */
    maxCpuidEntries: need("KVM_MAX_CPUID_ENTRIES"),
    /** KVM_MEM_MAX_NR_PAGES: dirty bitmaps are indexed by an unsigned int */
    memMaxNrPages: need("KVM_MEM_MAX_NR_PAGES"),
    /** KVM_USER_MEM_SLOTS per machine (Kernel.userMemSlots picks the host's) */
    userMemSlots: { x86_64: Number(need("KVM_USER_MEM_SLOTS_X86")), s390x: Number(need("KVM_USER_MEM_SLOTS_S390")), aarch64: Number(need("KVM_USER_MEM_SLOTS_ARM64")) },
    anonInodeMagic: need("ANON_INODE_FS_MAGIC"),
    gmemMagic: values.get("GUEST_MEMFD_MAGIC"),
    tmpfsMagic: need("TMPFS_MAGIC"),
    hcMapGpaRange: need("KVM_HC_MAP_GPA_RANGE"),
    // 0 in a profile from before memory attributes (poison-rfc-v2): no bit can name them there.
    ATTRIBUTE_PRIVATE: values.get("KVM_MEMORY_ATTRIBUTE_PRIVATE") ?? 0n,
    EXIT_FLAG_PRIVATE: values.get("KVM_MEMORY_EXIT_FLAG_PRIVATE") ?? 0n,
    /** kvm_run.io.direction values and the kvm_run page holding port I/O data (x86) */
    exitIo: { IN: need("KVM_EXIT_IO_IN"), OUT: need("KVM_EXIT_IO_OUT"), pioPageOffset: need("KVM_PIO_PAGE_OFFSET") },
  };
}

export type Constants = ReturnType<typeof resolveConstants>;

/** The ioctl requests the model dispatches on, by number (undefined where the profile does not define one). */
export function resolveRequests(spec: Spec, profile: ProfileName) {
  const req = (name: string): number | undefined => spec.ioctl(name, profile)?.request;
  return {
    KVM_GET_API_VERSION: req("KVM_GET_API_VERSION"),
    KVM_CREATE_VM: req("KVM_CREATE_VM"),
    KVM_CHECK_EXTENSION: req("KVM_CHECK_EXTENSION"),
    KVM_GET_VCPU_MMAP_SIZE: req("KVM_GET_VCPU_MMAP_SIZE"),
    KVM_CREATE_VCPU: req("KVM_CREATE_VCPU"),
    KVM_SET_USER_MEMORY_REGION: req("KVM_SET_USER_MEMORY_REGION"),
    KVM_SET_USER_MEMORY_REGION2: req("KVM_SET_USER_MEMORY_REGION2"),
    KVM_RUN: req("KVM_RUN"),
    KVM_ENABLE_CAP: req("KVM_ENABLE_CAP"),
    KVM_SET_MEMORY_ATTRIBUTES: req("KVM_SET_MEMORY_ATTRIBUTES"),
    KVM_CREATE_GUEST_MEMFD: req("KVM_CREATE_GUEST_MEMFD"),
    KVM_PRE_FAULT_MEMORY: req("KVM_PRE_FAULT_MEMORY"),
    /** one number for SEV (struct kvm_sev_cmd) and TDX (struct kvm_tdx_cmd, KVM_MEMORY_ENCRYPT_OP_TDX in spec/) */
    KVM_MEMORY_ENCRYPT_OP: req("KVM_MEMORY_ENCRYPT_OP"),
    /** UPM v9 reused them to convert guest ranges (restrictedmem/attributes.ts) */
    KVM_MEMORY_ENCRYPT_REG_REGION: req("KVM_MEMORY_ENCRYPT_REG_REGION"),
    KVM_MEMORY_ENCRYPT_UNREG_REGION: req("KVM_MEMORY_ENCRYPT_UNREG_REGION"),
    /** upm-v10 and rfc-v11 only */
    KVM_GET_SUPPORTED_MEMORY_ATTRIBUTES: req("KVM_GET_SUPPORTED_MEMORY_ATTRIBUTES"),
    /** Arm CCA realms (in-flight series; profiles without it define none) */
    KVM_ARM_RMI_POPULATE: req("KVM_ARM_RMI_POPULATE"),
    KVM_NMI: req("KVM_NMI"),
  };
}

export type Requests = ReturnType<typeof resolveRequests>;

/** The ioctl definitions of one profile by name, for decoding `ioctl` operations. */
export function ioctlTable(spec: Spec, profile: ProfileName): Map<string, IoctlDef> {
  const table = new Map<string, IoctlDef>();
  for (const name of spec.ioctlNames()) {
    const def = spec.ioctl(name, profile);
    if (def) table.set(name, def);
  }
  return table;
}

/** _IOC_TYPE of a request number. */
export function iocType(request: number): number {
  return (request >>> 8) & 0xff;
}
