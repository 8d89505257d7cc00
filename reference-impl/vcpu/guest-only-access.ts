// A private guest access in the poisoned-page design (poison-rfc-v2, seed 003; clauses
// POISON-*): the guest reaches the page behind the memslot's userspace address, which KVM
// faults in for writing (so a MAP_PRIVATE mapping gets the process's own copy) and then tags
// guest-only (mm/guest-only.ts). Later private accesses find the tagged page again without a
// host fault, as the RFC's KVM did through the pfn kept in the hwpoison entry. The design never
// received uAPI numbers: a guest access with private intent stands for an access to memory the
// guest has not shared (spec/profiles.json, poison-rfc-v2).
import type { OpResult } from "../../spec/driver/contract.js";
import { DriverFailure } from "../../spec/driver/contract.js";
import { isGuestOnly, makeGuestOnly } from "../mm/guest-only.js";
import type { SyscallContext } from "../process/file.js";
import { ZAP_ALL } from "../vm/mmu.js";
import type { GuestProgram } from "./run.js";
import type { Vcpu } from "./vcpu.js";

/** The access's result, or undefined where no memslot without guest_memfd covers it (the ordinary path answers). */
export function guestOnlyAccess(ctx: SyscallContext, vcpu: Vcpu, p: Extract<GuestProgram, { kind: "access" }>): OpResult | undefined {
  const { kernel } = ctx;
  const vm = vcpu.vm;
  const page = kernel.page;
  const gfn = page.page(p.gpa);
  if (page.page(p.gpa + BigInt(p.len) - 1n) !== gfn) throw new DriverFailure("unsupported", "a private guest access crossing a page boundary (poison-rfc-v2)");
  const slot = vm.memslots[0]!.at(gfn);
  if (slot === undefined || slot.gmem !== null) return undefined;
  const mm = vm.owner.mm;
  const hostPage = slot.hostPage(gfn, page.shift);
  let folio = mm.currentPage(hostPage);
  if (folio === undefined || !isGuestOnly(folio)) {
    const got = mm.getUserPage(hostPage, true);
    if (got === "hwpoison") {
      ctx.signal = "SIGBUS";
      return { ret: -1n, errno: "EINTR", exit: { reason: "KVM_EXIT_INTR" } };
    }
    if (got === "fault") return { ret: -1n, errno: "EFAULT" };
    folio = got.folio;
    // A shared mapping of the gfn must not keep reaching the page the guest now owns.
    vm.mmu.invalidate(() => vm.mmu.zap(0, gfn, gfn + 1, ZAP_ALL));
    makeGuestOnly(kernel, folio);
  }
  const offset = Number(p.gpa & page.mask);
  if (p.access === "write") {
    folio.write(offset, p.data ?? new Uint8Array(p.len));
    return { ret: 0n, exit: { reason: "KVM_EXIT_HLT" } };
  }
  if (p.access === "fetch") return { ret: 0n, exit: { reason: "KVM_EXIT_HLT" } };
  return { ret: 0n, exit: { reason: "KVM_EXIT_HLT" }, out: { data: folio.read(offset, p.len) } };
}
