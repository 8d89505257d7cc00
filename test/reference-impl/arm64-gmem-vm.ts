import { expect } from "chai";
import { PAGE, Session } from "./session.js";

/** The IPA the arm64 tests bind their guest_memfd at. */
export const GPA = 0x10000000n;

/**
 * A VM of machine type `type` with vCPU 0 and a 4-page guest_memfd (GUEST_MEMFD_FLAG_MMAP)
 * bound as memslot 1 at GPA (userspace_addr an anonymous mapping), mapped MAP_SHARED at gmap.
 */
export function arm64GmemVm(s: Session, type: bigint) {
  const vm = s.ioctl(s.kvm(), "KVM_CREATE_VM", type).ret;
  const vcpu = s.vcpu(vm);
  const gmem = s.gmem(vm, 4n * PAGE, s.c("GUEST_MEMFD_FLAG_MMAP"));
  const rw = s.c("PROT_READ") | s.c("PROT_WRITE");
  const gmap = s.ok("mmap", { addr: 0n, len: 4n * PAGE, prot: rw, flags: s.c("MAP_SHARED"), fd: gmem, offset: 0n }).ret;
  const plain = s.ok("mmap", { addr: 0n, len: 4n * PAGE, prot: rw, flags: s.c("MAP_PRIVATE") | s.c("MAP_ANONYMOUS"), fd: -1n, offset: 0n }).ret;
  expect(s.slot(vm, { slot: 1n, flags: s.c("KVM_MEM_GUEST_MEMFD"), guest_phys_addr: GPA, memory_size: 4n * PAGE, userspace_addr: plain, guest_memfd_offset: 0n, guest_memfd: gmem }).errno).to.equal(undefined);
  return { vm, vcpu, gmem, gmap };
}
