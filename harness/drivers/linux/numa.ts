// Contract 1.4's NUMA operations on the real kernel: move_pages (query and move) and
// get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR), and the feature numa:multi-node read from
// sysfs. Moving pages changes where memory lives, so a move may name only pages of
// the case's own mappings; a query only reads.
import { readFileSync } from "node:fs";
import type { ProfileName, Spec } from "../../../spec/index.js";
import { DriverFailure, type OpOf, type OpResult, type OutValue } from "../../../spec/driver/contract.js";
import type { Session } from "./session.js";
import * as libc from "./libc.js";

export type NumaOp = OpOf<"move_pages"> | OpOf<"get_mempolicy_node">;

/** Written into the status array first: a value the kernel never writes (not a node, not -errno). */
const STATUS_UNWRITTEN = -(2 ** 31);
const MAX_PAGES = 64;

/** The nodes of a sysfs node list ("0", "0-1,3"). */
export function parseNodeList(text: string): number[] {
  const nodes: number[] = [];
  for (const part of text.trim().split(",").filter((p) => p !== "")) {
    const [a, b] = part.split("-").map((x) => Number(x));
    for (let n = a!; n <= (b ?? a!); n++) nodes.push(n);
  }
  return nodes;
}

/** numa:multi-node when nodes 0 and 1 both have memory (node_states[N_MEMORY]). */
export function numaFeatures(read: (path: string) => string = (p) => readFileSync(p, "utf8")): string[] {
  let nodes: number[];
  try {
    nodes = parseNodeList(read("/sys/devices/system/node/has_memory"));
  } catch {
    return [];
  }
  return nodes.includes(0) && nodes.includes(1) ? ["numa:multi-node"] : [];
}

function result(spec: Spec, r: libc.Sys, out?: { [k: string]: OutValue }): OpResult {
  if (r.ret < 0n) return { ret: -1n, errno: spec.errnoName(r.errno) };
  return out === undefined ? { ret: r.ret } : { ret: r.ret, out };
}

export function numaOperation(spec: Spec, session: Session, profile: ProfileName, op: NumaOp): OpResult {
  if (op.op === "get_mempolicy_node") {
    const flags = spec.constant("MPOL_F_NODE", profile)! | spec.constant("MPOL_F_ADDR", profile)!;
    const r = libc.getMempolicy(op.addr, flags);
    return result(spec, r, { node: r.mode });
  }
  const count = op.pages.length;
  if (count < 1 || count > MAX_PAGES) throw new DriverFailure("protocol", `move_pages: 1 to ${MAX_PAGES} pages`);
  if (op.nodes !== undefined && op.nodes.length !== count) throw new DriverFailure("protocol", "move_pages: nodes must have one entry per page");
  // moving touches the pages: only the case's own (a query reads page tables only)
  if (op.nodes !== undefined) session.requireOwnedRanges(op.pages.map((addr) => ({ addr, len: 1n, what: "move_pages" })));
  const pages = Buffer.alloc(8 * count);
  op.pages.forEach((a, i) => pages.writeBigUInt64LE(BigInt.asUintN(64, a), 8 * i));
  let nodes: Buffer | null = null;
  if (op.nodes !== undefined) {
    const buf = Buffer.alloc(4 * count);
    op.nodes.forEach((n, i) => buf.writeInt32LE(Number(BigInt.asIntN(32, n)), 4 * i));
    nodes = buf;
  }
  const status = Buffer.alloc(4 * count);
  for (let i = 0; i < count; i++) status.writeInt32LE(STATUS_UNWRITTEN, 4 * i);
  const r = libc.movePages(spec.constant("SYS_move_pages", profile)!, count, pages, nodes, status, op.flags);
  const out: { [k: string]: OutValue } = {};
  for (let i = 0; i < count; i++) {
    const s = status.readInt32LE(4 * i);
    if (s !== STATUS_UNWRITTEN) out[`status${i}`] = BigInt(s);
  }
  return result(spec, r, out);
}
