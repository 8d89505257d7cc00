// Numbers of the guest-side TDX ABI the model reports to the guest: TDX module status
// codes (intel/tdx-module auto_gen/tdx_error_codes_defs.h; Linux's TDX series: arch/x86/kvm/vmx/tdx_errno.h),
// TDG.VP.VMCALL status codes (arch/x86/include/asm/shared/tdx.h), and the #VE the module
// injects. They are hardware ABI, not kernel uAPI; spec/constants.json's tdx-module group
// holds the same values for suites.

/** TDX_SUCCESS */
export const TDX_SUCCESS = 0n;
/** TDX_OPERAND_INVALID: an operand the module refuses; the low 32 bits name the operand */
export const TDX_OPERAND_INVALID = 0xc000010000000000n;
/** TDX_PAGE_ALREADY_ACCEPTED (a warning: bit 63 clear); low bits: the S-EPT level found */
export const TDX_PAGE_ALREADY_ACCEPTED = 0x00000b0a00000000n;
/** TDX_PAGE_SIZE_MISMATCH: ACCEPT at a level above the one the page is mapped at; low bits: the level */
export const TDX_PAGE_SIZE_MISMATCH = 0xc0000b0b00000000n;
/** OPERAND_ID_RCX: the operand id of RCX in a status code */
export const OPERAND_ID_RCX = 1n;

/** TDVMCALL_STATUS_* (returned to the guest in R10) */
export const TDVMCALL_STATUS_SUCCESS = 0n;
export const TDVMCALL_STATUS_RETRY = 1n;
export const TDVMCALL_STATUS_INVALID_OPERAND = 0x8000000000000000n;
export const TDVMCALL_STATUS_ALIGN_ERROR = 0x8000000000000002n;
export const TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED = 0x8000000000000003n;

/** X86_TRAP_VE: the vector of a virtualization exception */
export const X86_TRAP_VE = 20n;
/** EXIT_REASON_EPT_VIOLATION, as the #VE information reports it */
export const EXIT_REASON_EPT_VIOLATION = 48n;
/** TDX_TD_ATTR_SEPT_VE_DISABLE: a pending-page access is a TD exit, not a #VE (KVM_SUPPORTED_TD_ATTRS) */
export const TDX_TD_ATTR_SEPT_VE_DISABLE = 1n << 28n;

/** TDX_MAP_GPA_MAX_LEN: KVM splits a MapGPA into exits of at most 2 MiB */
export const TDX_MAP_GPA_MAX_LEN = 2n * 1024n * 1024n;
