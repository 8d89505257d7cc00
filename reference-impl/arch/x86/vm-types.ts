// x86 VM types and the arch hooks KVM calls for them: which VMs have private
// memory and protected state, who decides whether an access is private, when
// pre-faulting is allowed, and what the hardware does to a page when KVM maps or
// unmaps it privately. Sources: arch/x86/kvm/x86.c kvm_arch_init_vm(),
// svm/svm.c svm_vm_init(), svm/sev.c (launch finish, sev_gmem_prepare/invalidate),
// vmx/tdx.c (tdx_vm_init, finalize, S-EPT removal), mmu/mmu.c kvm_mmu_page_fault().
import type { Folio } from "../../mm/folio.js";

export type VmTypeName = "default" | "sw-protected" | "sev" | "sev-es" | "snp" | "tdx";

/** Which party decides that a guest access is private. */
export type PrivateAccessSource =
  | "never" // no private memory
  | "attributes" // SW_PROTECTED: the gfn's attribute is the source of truth
  | "guest"; // SNP C-bit, TDX shared bit: the guest's intent, checked against the attribute

/** The RMP of SEV-SNP, reduced to the pages assigned to guests (rmp_make_private / rmp_make_shared). */
export class ReverseMapTable {
  readonly assigned = new Set<Folio>();
}

export interface VmTypeRules {
  readonly name: VmTypeName;
  /** kvm_arch_has_private_mem(): PRIVATE attribute supported, single memslot address space */
  readonly hasPrivateMem: boolean;
  /** has_protected_state: no read-only memslots (kvm_arch_has_readonly_mem) */
  readonly hasProtectedState: boolean;
  readonly privateAccess: PrivateAccessSource;
  /** kvm->arch.pre_fault_allowed at creation; SNP gains it at launch finish, TDX at finalization */
  readonly preFaultAllowedAtCreate: boolean;
  /** TDX keeps private mappings in a mirror root, zapped separately from shared ones */
  readonly mirroredPrivateRoot: boolean;
}

const RULES: Record<VmTypeName, VmTypeRules> = {
  default: { name: "default", hasPrivateMem: false, hasProtectedState: false, privateAccess: "never", preFaultAllowedAtCreate: true, mirroredPrivateRoot: false },
  "sw-protected": { name: "sw-protected", hasPrivateMem: true, hasProtectedState: false, privateAccess: "attributes", preFaultAllowedAtCreate: true, mirroredPrivateRoot: false },
  sev: { name: "sev", hasPrivateMem: false, hasProtectedState: false, privateAccess: "never", preFaultAllowedAtCreate: true, mirroredPrivateRoot: false },
  "sev-es": { name: "sev-es", hasPrivateMem: false, hasProtectedState: true, privateAccess: "never", preFaultAllowedAtCreate: true, mirroredPrivateRoot: false },
  snp: { name: "snp", hasPrivateMem: true, hasProtectedState: true, privateAccess: "guest", preFaultAllowedAtCreate: false, mirroredPrivateRoot: false },
  tdx: { name: "tdx", hasPrivateMem: true, hasProtectedState: true, privateAccess: "guest", preFaultAllowedAtCreate: false, mirroredPrivateRoot: true },
};

export const VM_TYPE_NAMES = Object.keys(RULES) as VmTypeName[];

/** Per-VM arch state and hooks. */
export class X86VmType implements VmTypeRules {
  readonly name: VmTypeName;
  readonly hasPrivateMem: boolean;
  readonly hasProtectedState: boolean;
  readonly privateAccess: PrivateAccessSource;
  readonly preFaultAllowedAtCreate: boolean;
  readonly mirroredPrivateRoot: boolean;

  constructor(
    rules: VmTypeRules,
    private readonly rmp: ReverseMapTable,
  ) {
    this.name = rules.name;
    this.hasPrivateMem = rules.hasPrivateMem;
    this.hasProtectedState = rules.hasProtectedState;
    this.privateAccess = rules.privateAccess;
    this.preFaultAllowedAtCreate = rules.preFaultAllowedAtCreate;
    this.mirroredPrivateRoot = rules.mirroredPrivateRoot;
  }

  static rules(name: VmTypeName): VmTypeRules {
    return RULES[name];
  }

  /** kvm_arch_has_readonly_mem() */
  get readonlyMemAllowed(): boolean {
    return !this.hasProtectedState;
  }

  /** kvm_arch_supports_gmem_init_shared(): only VMs without private memory may start shared */
  get initSharedAllowed(): boolean {
    return !this.hasPrivateMem;
  }

  /** SMM (a second address space) is unsupported for guests with private memory. */
  addressSpaces(smm: boolean): number {
    return smm && !this.hasPrivateMem ? 2 : 1;
  }

  /** kvm_arch_gmem_prepare(): SNP assigns the page to the guest in the RMP. */
  gmemPrepare(folio: Folio): void {
    if (this.name === "snp") this.rmp.assigned.add(folio);
  }

  /** A private mapping was removed: TDX removes the page from the TD, which clears it. */
  privatePageUnmapped(folio: Folio): void {
    if (this.name === "tdx") folio.clear();
  }
}

/** kvm_arch_gmem_invalidate(): a guest_memfd folio is freed; SNP gives it back to the host. */
export function gmemFolioFreed(rmp: ReverseMapTable, folio: Folio): void {
  rmp.assigned.delete(folio);
}
