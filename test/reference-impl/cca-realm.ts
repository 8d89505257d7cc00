// A populated realm the Arm CCA unit tests share (cca.test.ts, cca-invariants.test.ts).
import { expect } from "chai";
import { RealmVmType } from "../../reference-impl/arch/arm64/cca/vm-type.js";
import type { Vm } from "../../reference-impl/vm/vm.js";
import { PAGE, Session } from "./session.js";

export const GPA = 0x10000000n;

/** A realm with a one-page guest_memfd slot at GPA (PRIVATE), its first page populated from 0xd0 bytes, run once. */
export function populatedRealm() {
  const s = new Session("cca-v14", "arm64-cca");
  const vm = s.ioctl(s.kvm(), "KVM_CREATE_VM", s.c("KVM_VM_TYPE_ARM_REALM")).ret;
  const vcpu = s.vcpu(vm);
  const g = s.gmem(vm, 2n * PAGE);
  s.slot(vm, { slot: 1n, flags: s.c("KVM_MEM_GUEST_MEMFD"), guest_phys_addr: GPA, memory_size: 2n * PAGE, userspace_addr: s.anon(2n), guest_memfd_offset: 0n, guest_memfd: g });
  s.ok("ioctl", { fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: GPA, size: 2n * PAGE, attributes: s.c("KVM_MEMORY_ATTRIBUTE_PRIVATE") } });
  const src = s.anon(1n);
  s.ok("store", { addr: src, data: new Uint8Array(8).fill(0xd0) });
  s.ok("ioctl", { fd: vm, request: "KVM_ARM_RMI_POPULATE", arg: { base: GPA, size: PAGE, source_uaddr: src, flags: 0n, reserved: 0n } });
  const r = s.ok("guest", { vcpu, access: "read", gpa: GPA, len: 8n, private: true });
  expect(r.out?.data).to.deep.equal(new Uint8Array(8).fill(0xd0));
  const realmVm = [...s.k.machine.vms].find((v) => v.type instanceof RealmVmType) as Vm;
  return { s, vm, vcpu, realm: (realmVm.type as RealmVmType).realm, realmVm };
}
