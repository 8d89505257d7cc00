// NUMA memory policies: mbind(2) and get_mempolicy(2) with MPOL_F_ADDR
// (mm/mempolicy.c: kernel_mbind, sanitize_mpol_flags, mpol_new,
// mpol_set_nodemask, do_mbind, do_get_mempolicy). A policy lives on the VMA, or,
// for files with set_policy/get_policy (shmem; guest_memfd from 6.19), in the
// inode's shared policy for the file range. A page allocated under a policy lands
// on the node the policy picks (policyNode); get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR)
// and move_pages (mm/migrate.ts) report it.
import type { OutValue } from "../../spec/driver/contract.js";
import { fail } from "../lib/errno.js";
import { U64_MAX } from "../lib/u64.js";
import type { IntervalMap } from "../lib/interval-map.js";
import type { Kernel } from "../kernel.js";
import type { PageCache } from "../mm/page-cache.js";
import type { SyscallContext } from "./file.js";
import type { Vma } from "./vma.js";

/** numa_node_id(): the model's process runs on a CPU of node 0. */
export const LOCAL_NODE = 0;

export interface MemPolicy {
  mode: number;
  /** MPOL_F_STATIC_NODES / MPOL_F_RELATIVE_NODES / MPOL_F_NUMA_BALANCING as passed */
  flags: number;
  nodes: bigint;
}

/** A file that keeps policies per page range (vm_operations_struct.set_policy/get_policy). */
export interface SharedPolicyOwner {
  readonly sharedPolicy: IntervalMap<MemPolicy> | null;
}

function sharedPolicyOf(vma: Vma): IntervalMap<MemPolicy> | null {
  const owner = vma.backing as Partial<SharedPolicyOwner> | null;
  return owner?.sharedPolicy ?? null;
}

export function sysMbind(ctx: SyscallContext, addr: bigint, len: bigint, modeArg: bigint, nodemask: bigint, flags: bigint): bigint {
  const { kernel } = ctx;
  const P = kernel.K.mpol;
  const raw = Number(BigInt.asUintN(32, modeArg));
  const modeFlagMask = P.F_STATIC_NODES | P.F_RELATIVE_NODES | P.F_NUMA_BALANCING;
  const modeFlags = raw & modeFlagMask;
  let mode = raw & ~modeFlagMask;
  // sanitize_mpol_flags()
  if (mode >= kernel.revision.mpolMax) fail("EINVAL");
  if (modeFlags & P.F_STATIC_NODES && modeFlags & P.F_RELATIVE_NODES) fail("EINVAL");
  if (modeFlags & P.F_NUMA_BALANCING && mode !== P.BIND && mode !== P.PREFERRED_MANY) fail("EINVAL");
  // do_mbind()
  if (flags & ~BigInt(P.MF_STRICT | P.MF_MOVE | P.MF_MOVE_ALL)) fail("EINVAL");
  const page = kernel.page;
  const first = BigInt.asUintN(64, addr);
  if (!page.aligned(first)) fail("EINVAL");
  const size = page.align64(len);
  if (first + size > U64_MAX) fail("EINVAL");
  if (size === 0n) return 0n;
  const nodes = BigInt.asUintN(64, nodemask);
  // mpol_new()
  if (mode === P.DEFAULT) {
    if (nodes !== 0n) fail("EINVAL");
  } else if (mode === P.PREFERRED && nodes === 0n) {
    if (modeFlags & (P.F_STATIC_NODES | P.F_RELATIVE_NODES)) fail("EINVAL");
    mode = P.LOCAL;
  } else if (mode === P.LOCAL) {
    if (nodes !== 0n || modeFlags & (P.F_STATIC_NODES | P.F_RELATIVE_NODES)) fail("EINVAL");
  } else if (nodes === 0n) fail("EINVAL");
  // mpol_set_nodemask(): only nodes with memory count.
  const online = (1n << BigInt(kernel.host.numaNodes)) - 1n;
  let policy: MemPolicy | null = null;
  if (mode !== P.DEFAULT) {
    let usable = nodes & online;
    if (mode !== P.LOCAL && usable === 0n) fail("EINVAL");
    // MPOL_PREFERRED keeps the first node only.
    if (mode === P.PREFERRED) usable &= -usable;
    policy = { mode, flags: modeFlags, nodes: mode === P.LOCAL ? 0n : usable };
  }
  const mm = ctx.process.mm;
  const start = page.page(first);
  const end = start + page.page(size);
  // queue_pages_range(): a range with no mapping at all is EFAULT; a hole anywhere in it
  // too, except for MPOL_DEFAULT, which do_mbind() lets span holes (MPOL_MF_DISCONTIG_OK).
  const holes = mm.vmas.gaps(start, end);
  if (holes.length > 0 && (policy !== null || mm.vmas.overlapping(start, end).length === 0)) fail("EFAULT");
  for (const vma of mm.vmasIn(start, end)) {
    vma.policy = policy;
    const shared = sharedPolicyOf(vma);
    if (shared === null) continue;
    if (policy === null) shared.delete(vma.pgoff, vma.indexOf(vma.end));
    else shared.set(vma.pgoff, vma.indexOf(vma.end), policy);
  }
  return 0n;
}

export function sysGetMempolicy(ctx: SyscallContext, addr: bigint): { [k: string]: OutValue } {
  const { kernel } = ctx;
  const page = kernel.page;
  const a = BigInt.asUintN(64, addr);
  const vma = ctx.process.mm.vmas.get(page.page(a))?.value;
  if (vma === undefined) fail("EFAULT");
  const shared = sharedPolicyOf(vma);
  const policy = shared !== null ? (shared.get(vma.indexOf(page.page(a)))?.value ?? null) : vma.policy;
  if (policy === null) return { mode: BigInt(kernel.K.mpol.DEFAULT), nodemask: 0n };
  return { mode: BigInt(policy.mode | policy.flags), nodemask: policy.nodes };
}

/** The lowest node of a mask (first_node). */
function firstNode(nodes: bigint): number {
  let n = 0;
  while (n < 64 && !((nodes >> BigInt(n)) & 1n)) n++;
  return n;
}

/**
 * The node a page allocated under `policy` lands on (policy_nodemask, then the zonelist of
 * the local node). No policy, MPOL_DEFAULT and MPOL_LOCAL: the local node. MPOL_PREFERRED:
 * its node. MPOL_BIND and MPOL_PREFERRED_MANY: the local node when the mask has it, else
 * the nearest node of the mask (every node is equally far in the model: the lowest).
 * Interleaving spreads pages over the mask; the model puts them on the mask's lowest node,
 * which is one of the nodes the policy allows (cases assert no more than that).
 */
export function policyNode(kernel: Kernel, policy: MemPolicy | null): number {
  const P = kernel.K.mpol;
  if (policy === null || policy.mode === P.DEFAULT || policy.mode === P.LOCAL) return LOCAL_NODE;
  if ((policy.mode === P.BIND || policy.mode === P.PREFERRED_MANY) && (policy.nodes >> BigInt(LOCAL_NODE)) & 1n) return LOCAL_NODE;
  return firstNode(policy.nodes);
}

/** The node of a new page at file index `index` under a file's shared policy (null: none kept, the task's default). */
export function sharedPolicyNode(kernel: Kernel, shared: IntervalMap<MemPolicy> | null, index: number): number {
  return policyNode(kernel, shared?.get(index)?.value ?? null);
}

/** Allocate the holes of [start, end) in a page cache, each range on the node its shared policy picks. */
export function fillByPolicy(kernel: Kernel, cache: PageCache, shared: IntervalMap<MemPolicy> | null, start: number, end: number): void {
  if (shared === null) return cache.fill(start, end, LOCAL_NODE);
  let at = start;
  for (const piece of shared.overlapping(start, end)) {
    const s = Math.max(piece.start, start);
    if (at < s) cache.fill(at, s, LOCAL_NODE);
    const e = Math.min(piece.end, end);
    cache.fill(s, e, policyNode(kernel, piece.value));
    at = e;
  }
  if (at < end) cache.fill(at, end, LOCAL_NODE);
}

/**
 * get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR): the node of the page at addr. lookup_node()
 * takes the page with get_user_pages_fast() for reading, which faults it in (allocating
 * it under the mapping's policy) when it is not there yet; a page that cannot be had is EFAULT.
 */
export function sysGetMempolicyNode(ctx: SyscallContext, addr: bigint): { [k: string]: OutValue } {
  const page = ctx.kernel.page;
  const vpn = page.page(BigInt.asUintN(64, addr));
  const mm = ctx.process.mm;
  if (mm.vmas.get(vpn) === undefined) fail("EFAULT");
  const folio = mm.fault(vpn, false);
  if (folio === "HWPOISON") fail("EHWPOISON");
  if (typeof folio === "string") fail("EFAULT");
  return { node: BigInt(folio.node) };
}
