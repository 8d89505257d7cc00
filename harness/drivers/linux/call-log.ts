// A log of every libc call the driver child makes, per case, for the C replayer
// of `npm run bench` (bench/replay.c): with PRIVMEM_CTS_CALL_LOG=DIR set, each
// driver process appends to DIR/<pid>.log; unset (always, outside the bench),
// the koffi functions are returned untouched and nothing is recorded.
//
// One line per call, written after it returned, with its arguments as they were
// going in (a buffer's bytes before the kernel wrote into it):
//   <symbol> <i|l> <ret:hex> <arg> ...
//     i: the function returns a C int (sign-extend the low 32 bits), l: a 64-bit value
//     arg: x<hex u64> an integer or address | s<hex> a C string | b<hex> a buffer's bytes
//          | v<hex>.<hex>... an iovec array over buffers of these bytes | o<hex> an out cell (8 bytes; its value after the call) | e<signo>,<notify> a
//          thread-directed sigevent (the replayer puts in its own tid)
// Case boundaries: "case" (after the probe and after every reset), then, just before
// the case's first call, "fd <n> <k|v|c|o>" for every fd open in the driver (/dev/kvm,
// a VM, a vCPU, other), so the replayer can hold the same fd numbers, and VMs and vCPUs
// alive as the driver does, and the kernel hands out the same numbers.
import { appendFileSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";

const DIR = process.env["PRIVMEM_CTS_CALL_LOG"];
const FILE = DIR === undefined ? undefined : join(DIR, `${process.pid}.log`);
let pending: string[] = [];
let fdsDue = false;
/** iovec arrays built over Node buffers: their addresses mean nothing to the replayer, their contents do */
const iovecParts = new WeakMap<Buffer, Buffer[]>();

const hex = (v: bigint): string => BigInt.asUintN(64, v).toString(16);

export function arg(v: unknown): string {
  if (typeof v === "bigint" || typeof v === "number") return "x" + hex(BigInt(v));
  if (typeof v === "string") return "s" + Buffer.from(v).toString("hex");
  if (v === null || v === undefined) return "x0";
  const parts = Buffer.isBuffer(v) ? iovecParts.get(v) : undefined;
  if (parts !== undefined) return "v" + parts.map((p) => p.toString("hex")).join(".");
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return "b" + Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex");
  if (Array.isArray(v)) return "o"; // completed after the call
  const o = v as Record<string, unknown>;
  if ("tid" in o) return `e${String(o["signo"])},${String(o["notify"])}`;
  if ("valueNsec" in o) {
    const b = Buffer.alloc(32);
    ["intervalSec", "intervalNsec", "valueSec", "valueNsec"].forEach((k, i) => b.writeBigInt64LE(BigInt(o[k] as number), 8 * i));
    return "b" + b.toString("hex");
  }
  throw new Error(`call log: cannot record an argument of shape ${JSON.stringify(Object.keys(o))}`);
}

/** The symbol, whether it returns a C int, and how many fixed parameters a variadic function has. */
export function signature(args: unknown[]): { symbol: string; int: boolean; fixed: number | undefined } {
  if (args.length === 1) {
    const m = /^\s*(\S+)\s+(\w+)\s*\((.*)\)\s*$/.exec(String(args[0]));
    if (!m) throw new Error(`call log: cannot read the prototype ${String(args[0])}`);
    const params = m[3]!.split(",").map((p) => p.trim());
    const dots = params.indexOf("...");
    return { symbol: m[2]!, int: m[1] === "int", fixed: dots < 0 ? undefined : dots };
  }
  return { symbol: String(args[0]), int: args[1] === "int", fixed: undefined };
}

type Fn = (...a: unknown[]) => unknown;

function recorded(f: Fn, sig: ReturnType<typeof signature>): Fn {
  return (...a: unknown[]) => {
    // variadic calls pass (type, value) pairs after the fixed parameters: keep the values
    const values = sig.fixed === undefined ? a : [...a.slice(0, sig.fixed), ...a.slice(sig.fixed).filter((_, i) => i % 2 === 1)];
    const before = values.map(arg);
    if (fdsDue) logFds();
    const ret = f(...a);
    const after = before.map((s, i) => (s === "o" ? "o" + hex(BigInt((values[i] as unknown[])[0] as bigint)) : s));
    pending.push(`${sig.symbol} ${sig.int ? "i" : "l"} ${hex(BigInt(ret as number | bigint))} ${after.join(" ")}`);
    return ret;
  };
}

/** The library with its `func` recording every call when the log is on; the library itself otherwise. */
export function withCallLog<L extends { func: (...a: never[]) => unknown }>(lib: L): L {
  if (FILE === undefined) return lib;
  const func = lib.func.bind(lib) as unknown as (...a: unknown[]) => Fn;
  const wrapped = Object.create(lib) as L;
  Object.defineProperty(wrapped, "func", { value: (...a: unknown[]) => recorded(func(...a), signature(a)) });
  return wrapped;
}

/** `iov` is a struct iovec[] over `parts` (Node buffers): recorded as their bytes. */
export function logIovec(iov: Buffer, parts: Buffer[]): void {
  if (FILE !== undefined) iovecParts.set(iov, parts);
}

/** A call the driver makes through Node rather than libc (fdinfo's readlink and read of /proc/self/fdinfo). */
export function logNodeCall(symbol: "readlink" | "readfile", path: string): void {
  if (FILE === undefined) return;
  if (fdsDue) logFds();
  pending.push(`@${symbol} l 0 ${arg(path)}`);
}

/** A new case starts: flush the last one's calls; the fds are listed just before its first call. */
export function logCaseStart(): void {
  if (FILE === undefined) return;
  appendFileSync(FILE, [...pending, "case"].join("\n") + "\n");
  pending = [];
  fdsDue = true;
}

/** k: /dev/kvm, v: a VM, c: a vCPU, o: anything else */
const fdKind = (link: string): string => (link === "/dev/kvm" ? "k" : link === "anon_inode:kvm-vm" ? "v" : link.startsWith("anon_inode:kvm-vcpu") ? "c" : "o");

/** The fds the driver holds right now (Node may open and close some of its own between cases). */
function logFds(): void {
  fdsDue = false;
  for (const name of readdirSync("/proc/self/fd")) {
    let link: string;
    try {
      link = readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // the directory's own fd, closed by now
    }
    pending.push(`fd ${name} ${fdKind(link)}`);
  }
}

/** Write what is still pending (the driver is closing). */
export function flushCallLog(): void {
  if (FILE === undefined || pending.length === 0) return;
  appendFileSync(FILE, pending.join("\n") + "\n");
  pending = [];
}
