// Helpers for the SEV-SNP hardware suites (suites/hw/snp/): an SNP guest set up and
// launched through the uAPI, the guest_arch actions of features guest-arch:snp:*, and
// the checks their results share. Layout: memslot 1 at G with `pages` pages, backed by
// a guest_memfd ($gmem) and by anonymous memory ($shared) whose page i holds 0xa0+i.
import type { OpResult, OutValue } from "../../spec/driver/contract.js";
import { describeResult, type TestContext } from "./index.js";

export const G = 0x10000000n;
/** The features every SNP guest case needs (the fixture's), without the guest-arch ones. */
export const SNP_REQUIRES = ["kvm", "vm-type:snp", "memory-attributes", "guest-memfd", "user-memory2", "guest-run"];

export interface SnpGuest {
  vm: bigint;
  vcpu: bigint;
  gmem: bigint;
  shared: bigint;
  sev: bigint;
  /** a page of scratch memory for command payloads */
  scratch: bigint;
  pages: bigint;
}

async function ok(t: TestContext, r: Promise<OpResult>, what: string): Promise<bigint> {
  const res = await r;
  t.ASSERT_OK(res, what);
  return res.ret;
}

export interface SnpOptions {
  pages?: bigint;
  /** enable KVM_CAP_EXIT_HYPERCALL for KVM_HC_MAP_GPA_RANGE */
  exitHypercall?: boolean;
  /** flags of the guest_memfd (default 0) */
  gmemFlags?: bigint;
  /** runs between LAUNCH_START and LAUNCH_FINISH (KVM_SEV_SNP_LAUNCH_UPDATE goes there) */
  beforeFinish?: (g: SnpGuest) => Promise<void>;
}

/** KVM_X86_SNP_VM, KVM_SEV_INIT2, vCPU 0, the memslot, LAUNCH_START (policy 0x30000) and LAUNCH_FINISH through /dev/sev. */
export async function snpGuest(t: TestContext, o: SnpOptions = {}): Promise<SnpGuest> {
  const P = t.pageSize;
  const pages = o.pages ?? 4n;
  const kvm = await ok(t, t.call({ op: "open", path: "/dev/kvm", flags: t.c("O_RDWR") }), "open /dev/kvm");
  const vm = await ok(t, t.call({ op: "ioctl", fd: kvm, request: "KVM_CREATE_VM", arg: t.c("KVM_X86_SNP_VM") }), "KVM_CREATE_VM(SNP)");
  const anon = (n: bigint) => t.call({ op: "mmap", addr: 0n, len: n * P, prot: t.c("PROT_READ") | t.c("PROT_WRITE"), flags: t.c("MAP_PRIVATE") | t.c("MAP_ANONYMOUS"), fd: -1n, offset: 0n });
  const scratch = await ok(t, anon(1n), "mmap the payload page");
  await ok(t, t.call({ op: "ioctl", fd: vm, request: "KVM_MEMORY_ENCRYPT_OP", arg: { id: t.c("KVM_SEV_INIT2"), data_u64: scratch + P / 2n } }), "KVM_SEV_INIT2");
  const vcpu = await ok(t, t.call({ op: "ioctl", fd: vm, request: "KVM_CREATE_VCPU", arg: 0n }), "KVM_CREATE_VCPU");
  const gmem = await ok(t, t.call({ op: "ioctl", fd: vm, request: "KVM_CREATE_GUEST_MEMFD", arg: { size: pages * P, flags: o.gmemFlags ?? 0n } }), "KVM_CREATE_GUEST_MEMFD");
  const shared = await ok(t, anon(pages), "mmap the shared memory");
  for (let i = 0n; i < pages; i++) await ok(t, t.call({ op: "store", addr: shared + i * P, data: new Uint8Array(Number(P)).fill(0xa0 + Number(i)) }), `fill shared page ${i}`);
  await ok(t, t.call({ op: "ioctl", fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 1n, flags: t.c("KVM_MEM_GUEST_MEMFD"), guest_phys_addr: G, memory_size: pages * P, userspace_addr: shared, guest_memfd_offset: 0n, guest_memfd: gmem } }), "memslot 1");
  if (o.exitHypercall) await ok(t, t.call({ op: "ioctl", fd: vm, request: "KVM_ENABLE_CAP", arg: { cap: t.c("KVM_CAP_EXIT_HYPERCALL"), flags: 0n, args: [1n << t.c("KVM_HC_MAP_GPA_RANGE"), 0n, 0n, 0n] } }), "KVM_ENABLE_CAP(EXIT_HYPERCALL)");
  const sev = await ok(t, t.call({ op: "open", path: "/dev/sev", flags: t.c("O_RDWR") }), "open /dev/sev");
  await ok(t, t.call({ op: "store", addr: scratch, data: le64(0x30000n) }), "policy");
  await ok(t, t.call({ op: "ioctl", fd: vm, request: "KVM_MEMORY_ENCRYPT_OP", arg: { id: t.c("KVM_SEV_SNP_LAUNCH_START"), data_u64: scratch, sev_fd: sev } }), "KVM_SEV_SNP_LAUNCH_START");
  const g = { vm, vcpu, gmem, shared, sev, scratch, pages };
  if (o.beforeFinish) await o.beforeFinish(g);
  await ok(t, t.call({ op: "store", addr: scratch + P / 4n, data: new Uint8Array(256) }), "zero the LAUNCH_FINISH payload");
  await ok(t, t.call({ op: "ioctl", fd: vm, request: "KVM_MEMORY_ENCRYPT_OP", arg: { id: t.c("KVM_SEV_SNP_LAUNCH_FINISH"), data_u64: scratch + P / 4n, sev_fd: sev } }), "KVM_SEV_SNP_LAUNCH_FINISH");
  return g;
}

export function le64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  return b;
}

/** KVM_SET_MEMORY_ATTRIBUTES on [gpa, gpa + size): PRIVATE or shared. */
export async function setPrivate(t: TestContext, g: SnpGuest, gpa: bigint, size: bigint, priv: boolean): Promise<void> {
  await ok(t, t.call({ op: "ioctl", fd: g.vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: gpa, size, attributes: priv ? t.c("KVM_MEMORY_ATTRIBUTE_PRIVATE") : 0n, flags: 0n } }), `KVM_SET_MEMORY_ATTRIBUTES ${priv ? "PRIVATE" : "shared"} at ${gpa.toString(16)}`);
}

export function pvalidate(t: TestContext, g: SnpGuest, gpa: bigint, validate: boolean, len: bigint = t.pageSize): Promise<OpResult> {
  return t.call({ op: "guest_arch", vcpu: g.vcpu, action: "snp:pvalidate", gpa, len, args: [validate ? 1n : 0n] });
}

/** The guest ran PVALIDATE to completion with rAX = status and CF = carry. */
export function expectPvalidate(t: TestContext, r: OpResult, status: bigint, carry: bigint, what: string): void {
  t.EXPECT(r.ret === 0n && r.exit?.reason === "KVM_EXIT_HLT" && r.out?.status === status && r.out?.carry === carry, `${what}: expected PVALIDATE rAX ${status} CF ${carry} and KVM_EXIT_HLT, got ${describeResult(r)}`);
}

/** A private (C=1) one-byte access: a write of `value`, or a read. */
export function privateAccess(t: TestContext, g: SnpGuest, gpa: bigint, value?: number): Promise<OpResult> {
  return value === undefined
    ? t.call({ op: "guest", vcpu: g.vcpu, access: "read", gpa, len: 1n, private: true })
    : t.call({ op: "guest", vcpu: g.vcpu, access: "write", gpa, len: 1n, data: new Uint8Array([value]), private: true });
}

/** The guest took #VC and its handler halted: no exit to userspace for the access. */
export function expectVc(t: TestContext, r: OpResult, what: string): void {
  t.EXPECT(r.ret === 0n && r.exit?.reason === "KVM_EXIT_HLT" && r.out?.exception === t.c("SNP_X86_TRAP_VC"), `${what}: expected #VC in the guest (KVM_EXIT_HLT, out.exception ${t.c("SNP_X86_TRAP_VC")}), got ${describeResult(r)}`);
}

/** The access completed (KVM_EXIT_HLT, no exception), a read returning `byte`. */
export function expectDone(t: TestContext, r: OpResult, what: string, byte?: number): void {
  const data = r.out?.data;
  const okRead = byte === undefined || (data instanceof Uint8Array && data.length > 0 && data.every((b) => b === byte));
  t.EXPECT(r.ret === 0n && r.exit?.reason === "KVM_EXIT_HLT" && r.out?.exception === undefined && okRead, `${what}: expected the access to complete${byte === undefined ? "" : ` reading 0x${byte.toString(16)}`}, got ${describeResult(r)}`);
}

/** KVM_RUN failed with EFAULT and KVM_EXIT_MEMORY_FAULT for the page at gpa. */
export function expectMemoryFault(t: TestContext, r: OpResult, gpa: bigint, priv: boolean, what: string): void {
  const mf = record(r.exit?.memory_fault);
  t.EXPECT(
    r.ret === -1n && r.errno === "EFAULT" && r.exit?.reason === "KVM_EXIT_MEMORY_FAULT" && mf?.gpa === gpa && mf?.size === t.pageSize && mf?.flags === (priv ? t.c("KVM_MEMORY_EXIT_FLAG_PRIVATE") : 0n),
    `${what}: expected EFAULT with KVM_EXIT_MEMORY_FAULT {flags ${priv ? "PRIVATE" : 0}, gpa 0x${gpa.toString(16)}, size PAGE_SIZE}, got ${describeResult(r)}`,
  );
}

export function record(v: OutValue | undefined): { [k: string]: OutValue } | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) ? v : undefined;
}

/** KVM_RUN returned 0 with KVM_EXIT_HYPERCALL: KVM_HC_MAP_GPA_RANGE, args[0..2] as given, ret preset to 0. */
export function expectMapGpaRange(t: TestContext, r: OpResult, gpa: bigint, npages: bigint, attrs: bigint, what: string): void {
  const hc = record(r.exit?.hypercall);
  const args = hc?.args;
  const got = Array.isArray(args) ? args.slice(0, 3) : undefined;
  t.EXPECT(
    r.ret === 0n && r.exit?.reason === "KVM_EXIT_HYPERCALL" && hc?.nr === t.c("KVM_HC_MAP_GPA_RANGE") && hc?.ret === 0n && got?.[0] === gpa && got?.[1] === npages && got?.[2] === attrs,
    `${what}: expected KVM_EXIT_HYPERCALL MAP_GPA_RANGE(0x${gpa.toString(16)}, ${npages}, 0x${attrs.toString(16)}) with ret 0, got ${describeResult(r)}`,
  );
}

/** The guest's request completed and it halted with out.status = status. */
export function expectStatus(t: TestContext, r: OpResult, status: bigint, what: string): void {
  t.EXPECT(r.ret === 0n && r.exit?.reason === "KVM_EXIT_HLT" && r.out?.status === status, `${what}: expected the guest to halt with status 0x${status.toString(16)}, got ${describeResult(r)}`);
}

/** A raw GHCB PSC entry: cur_page, gfn, operation, 2 MiB page size. */
export function pscEntry(gfn: bigint, op: bigint, huge = false, curPage = 0n): bigint {
  return curPage | (gfn << 12n) | (op << 52n) | ((huge ? 1n : 0n) << 56n);
}

/** KVM_SEV_SNP_LAUNCH_UPDATE with struct kvm_sev_snp_launch_update at scratch + 3/4 page; returns the result and the struct as KVM left it. */
export async function launchUpdate(t: TestContext, g: SnpGuest, p: { gfn: bigint; uaddr: bigint; len: bigint; type: string; rawType?: bigint; flags?: bigint }, sevFd = g.sev): Promise<{ r: OpResult; gfn: bigint; uaddr: bigint; len: bigint }> {
  const at = g.scratch + (3n * t.pageSize) / 4n;
  const body = new Uint8Array(64);
  const view = new DataView(body.buffer);
  view.setBigUint64(0, p.gfn, true);
  view.setBigUint64(8, p.uaddr, true);
  view.setBigUint64(16, p.len, true);
  view.setUint8(24, Number(p.rawType ?? t.c(p.type)));
  view.setUint16(26, Number(p.flags ?? 0n), true);
  await ok(t, t.call({ op: "store", addr: at, data: body }), "write struct kvm_sev_snp_launch_update");
  const r = await t.call({ op: "ioctl", fd: g.vm, request: "KVM_MEMORY_ENCRYPT_OP", arg: { id: t.c("KVM_SEV_SNP_LAUNCH_UPDATE"), data_u64: at, sev_fd: sevFd } });
  const back = await t.call({ op: "load", addr: at, len: 24n });
  t.ASSERT_OK(back, "read the struct back");
  const v = new DataView((back.out!.data as Uint8Array).buffer);
  return { r, gfn: v.getBigUint64(0, true), uaddr: v.getBigUint64(8, true), len: v.getBigUint64(16, true) };
}
