// Differential replay of a host capture (captures/*.jsonl): every captured case's steps, as
// the host ran them (request and result, harness/capture/), run again on a driver (the
// reference configured as that host), and each step's result is compared with the host's.
// The host's fds, mmap addresses, process and pin handles are its own: they are translated
// to the driver's as the replay learns them from the results of the steps that made them.
// The first divergence ends a case; a divergence in a case that an expectations entry for
// that host build lists (a host quirk) is explained, any other is reported.
import type { Capture, CapturedCase } from "../capture/capture.js";
import { DriverFailure, type Driver, type Op, type OpResult } from "../../spec/driver/contract.js";
import { fdParams, handleKind, outFds, type HandleKind } from "../../spec/driver/returns.js";
import type { ProfileName, Spec } from "../../spec/index.js";
import { opFromWire, resultFromWire, bytesToHex } from "../protocol/wire.js";
import type { Expectations } from "../runner/expectations.js";

/** What a step did, as a host and a driver are compared: handles and addresses left out. */
export type StepView = string;

export interface ReplayDivergence {
  id: string;
  /** index of the step in the case's trace, and the suite pointer it came from */
  at: number;
  step: string;
  host: StepView;
  driver: StepView;
  /** the expectations entry (host quirk) that lists the case, if any */
  quirk?: string;
}

export interface ReplayReport {
  file: string;
  kernel: string;
  /** captured cases with a trace, replayed */
  cases: number;
  steps: number;
  seconds: number;
  /** cases the driver refused a step of as unsupported (the step named) */
  unsupported: { id: string; step: string; why: string }[];
  explained: ReplayDivergence[];
  unexplained: ReplayDivergence[];
}

/** Struct fields of ioctl arguments that hold an fd or a user address. */
const FD_FIELDS = new Set(["guest_memfd", "fd"]);
const ADDR_FIELDS = new Set(["userspace_addr", "uaddr"]);
/** Operation parameters that are user addresses. */
const ADDR_PARAMS = new Set(["addr", "new_addr"]);

type Handles = { fds: Map<bigint, bigint>; processes: Map<bigint, bigint>; pins: Map<bigint, bigint>; maps: { host: bigint; mine: bigint; len: bigint }[]; procMem: Set<bigint> };

/** The host's handles, translated to the driver's as the replay goes. */
class Translator {
  private h: Handles = { fds: new Map(), processes: new Map(), pins: new Map(), maps: [], procMem: new Set() };

  constructor(
    private readonly spec: Spec,
    private readonly profile: ProfileName,
  ) {}

  reset(): void {
    this.h = { fds: new Map(), processes: new Map(), pins: new Map(), maps: [], procMem: new Set() };
  }

  /** An address inside (or one past the end of) a mapping the host made: the same offset in the driver's. */
  private addr(v: bigint): bigint {
    for (let i = this.h.maps.length - 1; i >= 0; i--) {
      const m = this.h.maps[i]!;
      if (v >= m.host && v <= m.host + m.len) return m.mine + (v - m.host);
    }
    return v;
  }

  private fd(v: bigint): bigint {
    return this.h.fds.get(v) ?? v;
  }

  private fields(v: unknown): unknown {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (typeof x === "bigint" && FD_FIELDS.has(k)) out[k] = this.fd(x);
      else if (typeof x === "bigint" && ADDR_FIELDS.has(k)) out[k] = this.addr(x);
      else out[k] = this.fields(x);
    }
    return out;
  }

  /** The host's request with the driver's handles. */
  op(host: Op): Op {
    const o = { ...host } as Record<string, unknown>;
    if (typeof o.process === "bigint") o.process = this.h.processes.get(o.process) ?? o.process;
    for (const k of fdParams(host.op)) if (typeof o[k] === "bigint") o[k] = this.fd(o[k]);
    for (const k of ADDR_PARAMS) if (typeof o[k] === "bigint") o[k] = this.addr(o[k]);
    if (typeof o.pin === "bigint") o.pin = this.h.pins.get(o.pin) ?? o.pin;
    // on /proc/self/mem the file offset is a user address
    if ((o.op === "pread" || o.op === "pwrite" || o.op === "lseek") && this.h.procMem.has((host as { fd?: bigint }).fd ?? -1n) && typeof o.offset === "bigint") o.offset = this.addr(o.offset);
    // a reopen names the host's fd in its path
    if (typeof o.path === "string") o.path = o.path.replace(/^\/proc\/self\/fd\/(\d+)$/, (_, n: string) => `/proc/self/fd/${this.fd(BigInt(n))}`);
    if (o.op === "ioctl") o.arg = this.fields(o.arg);
    return o as unknown as Op;
  }

  /** What kind of handle the step's return value is (fd, address, process, pin), if it is one: never compared. */
  handle(op: Op): HandleKind | undefined {
    return handleKind(this.spec, op, this.profile);
  }

  returnsHandle(op: Op): boolean {
    return this.handle(op) !== undefined;
  }

  /** Learn the handles a step made on both sides. */
  learn(hostOp: Op, host: OpResult, mine: OpResult): void {
    const returns = this.handle(hostOp);
    if (host.ret < 0n || mine.ret < 0n || host.errno !== undefined || mine.errno !== undefined || returns === undefined) return;
    if (returns === "address") this.h.maps.push({ host: host.ret, mine: mine.ret, len: hostOp.op === "mremap" ? hostOp.new_len : hostOp.op === "mmap" ? hostOp.len : 0n });
    else if (hostOp.op === "fork") this.h.processes.set(host.ret, mine.ret);
    else if (returns === "handle") this.h.pins.set(host.ret, mine.ret);
    else this.h.fds.set(host.ret, mine.ret);
    const opened = hostOp as { path?: unknown; fd?: unknown };
    if (opened.path === "/proc/self/mem" || (typeof opened.fd === "bigint" && returns === "fd" && this.h.procMem.has(opened.fd))) this.h.procMem.add(host.ret);
    // more new fds in out (a pipe's write end)
    for (const k of outFds(hostOp.op)) {
      const hw = host.out?.[k], mw = mine.out?.[k];
      if (typeof hw === "bigint" && typeof mw === "bigint") this.h.fds.set(hw, mw);
    }
  }
}

/** One step's result as it is compared: success, errno, signal, exit, data, and the return value unless it is a handle. */
function view(op: Op, r: OpResult, handle: boolean): StepView {
  const parts: string[] = [];
  const failed = r.errno !== undefined || r.ret < 0n;
  parts.push(failed ? `ret ${r.ret}` : handle ? "ok" : `ret ${r.ret}`);
  if (r.errno !== undefined) parts.push(`errno ${r.errno}`);
  if (r.signal !== undefined) parts.push(`signal ${r.signal}`);
  if (r.exit !== undefined) {
    const e = r.exit as Record<string, unknown>;
    const mf = e.memory_fault as { flags?: bigint; gpa?: bigint; size?: bigint } | undefined;
    const mmio = e.mmio as { phys_addr?: bigint; len?: bigint; is_write?: bigint } | undefined;
    parts.push(`exit ${String(e.reason)}` + (mf ? ` flags=${mf.flags} gpa=${mf.gpa} size=${mf.size}` : "") + (mmio ? ` mmio=${mmio.phys_addr}/${mmio.len}/${mmio.is_write}` : ""));
  }
  const data = r.out?.data;
  if (data instanceof Uint8Array) parts.push(`data ${bytesToHex(data)}`);
  if (op.op === "fstat" && r.out) parts.push(`size=${String(r.out.size)} mode=${String(r.out.mode)}`);
  return parts.join(", ");
}

export interface ReplayOptions {
  /** the expectations of the captured driver, for this host build */
  quirks: Expectations;
  /** only cases whose id starts with one of these */
  filters?: string[];
}

/** Replays every captured case with a trace on `driver` and compares step by step. */
export async function replayCapture(spec: Spec, capture: Capture, driver: Driver, o: ReplayOptions): Promise<ReplayReport> {
  const started = process.hrtime.bigint();
  const kernel = capture.header.handshake.host.kernel;
  const t = new Translator(spec, capture.header.handshake.profile);
  const report: ReplayReport = { file: capture.file, kernel, cases: 0, steps: 0, seconds: 0, unsupported: [], explained: [], unexplained: [] };
  const wanted = (c: CapturedCase) => c.trace !== undefined && c.trace.length > 0 && (o.filters === undefined || o.filters.length === 0 || o.filters.some((f) => c.id.startsWith(f)));
  for (const c of capture.cases.filter(wanted)) {
    report.cases++;
    await driver.reset();
    t.reset();
    for (const [i, entry] of c.trace!.entries()) {
      const hostOp = opFromWire(entry.op);
      const host = resultFromWire(entry.result);
      let mine: OpResult;
      try {
        mine = await driver.call(t.op(hostOp));
      } catch (err) {
        if (err instanceof DriverFailure && err.kind === "unsupported") {
          report.unsupported.push({ id: c.id, step: entry.step, why: err.message });
          break;
        }
        throw err;
      }
      report.steps++;
      const handle = t.returnsHandle(hostOp);
      const [hv, mv] = [view(hostOp, host, handle), view(hostOp, mine, handle)];
      if (hv !== mv) {
        const quirk = o.quirks.lookup(c.id);
        const d: ReplayDivergence = { id: c.id, at: i, step: entry.step, host: hv, driver: mv, ...(quirk ? { quirk: quirk.link ?? quirk.reason } : {}) };
        (quirk ? report.explained : report.unexplained).push(d);
        break;
      }
      t.learn(hostOp, host, mine);
    }
  }
  report.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return report;
}
