// A Driver living in another process and spoken to over the JSON-lines protocol.
// Used for crash isolation (linux) and for `--driver remote:<command>`. Anything
// the process does wrong (dies, hangs, writes garbage) surfaces as a DriverFailure
// for the operation in flight; the runner then starts a fresh process.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { UsageError } from "../../spec/errors.js";
import { compatibleContract, CONTRACT_VERSION, DriverFailure, DriverUnavailable, type Driver, type Handshake, type Op, type OpResult, type ResetReport } from "../../spec/driver/contract.js";
import { batchReplyFromWire, batchStepToWire, jsonDepth, opToWire, replyNameProblems, resultFromWire } from "./wire.js";
import { batchLimit, type BatchReply, type BatchStep } from "../../spec/driver/batch.js";
import { LineSplitter, LineTooLong, MAX_LINE_BYTES } from "./lines.js";
import { boundedStderr } from "./rate.js";

export { jsonDepth };
import { schemaProblems } from "../../spec/validate.js";

/** Replies are checked against the response half of the protocol schema only. */
const RESPONSE_SCHEMA = "protocol.schema.json#/$defs/response";

/** Bounds on what a driver may write: longest line (bytes) and deepest nesting of a reply. */
export { MAX_LINE_BYTES } from "./lines.js";
export const MAX_REPLY_DEPTH = 64;
/** How long the runner waits for a driver's stdout to close once the process has exited. */
const DRAIN_AFTER_EXIT_MS = 500;

/** Processes (by group) that must not outlive the runner. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    /* already gone */
  }
}
function trackGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  liveGroups.add(pid);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on("exit", () => {
      for (const g of liveGroups) killGroup(g);
    });
  }
}

interface Pending {
  resolve: (msg: Record<string, unknown>) => void;
  reject: (err: Error) => void;
  what: string;
  /** the reply type that answers this request */
  expects: string;
}

const REPLY_TO: Record<string, string> = { hello: "hello", call: "result", batch: "results", reset: "reset", shutdown: "bye" };

export interface ChildDriverOptions {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** how long the handshake may take */
  startTimeoutMs?: number;
  /** where the driver's stderr goes (never parsed) */
  onStderr?: (chunk: string) => void;
}

export class ChildProcessDriver implements Driver {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private dead: DriverFailure | undefined;
  private hs: Handshake | undefined;

  private readonly lines = new LineSplitter();
  private exited = false;
  /** set when the driver failed while no request was in flight (between operations) */
  private idleFailure: DriverFailure | undefined;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    trackGroup(child.pid);
    child.stdout.on("data", (chunk: Buffer) => this.onData(chunk));
    child.stderr.setEncoding("utf8");
    // "close" comes after stdout is drained, so a reply written just before exiting still counts.
    child.on("close", (code, signal) => this.onGone(code, signal));
    // A descendant that keeps stdout open must not keep the runner waiting: once the driver
    // itself has exited, its process group goes, and stdout gets a short time to drain.
    child.on("exit", (code, signal) => {
      this.exited = true;
      killGroup(child.pid);
      liveGroups.delete(child.pid!);
      setTimeout(() => {
        if (child.stdout.destroyed && child.stderr.destroyed) return;
        child.stdout.destroy();
        child.stderr.destroy();
        this.onGone(code, signal);
        child.emit("close", code, signal);
      }, DRAIN_AFTER_EXIT_MS).unref();
    });
    child.on("error", (err) => this.fail(new DriverFailure("crash", `driver process could not run: ${err.message}`)));
    child.stdin.on("error", () => {
      /* reported through "exit" */
    });
  }

  private gone = false;
  private onGone(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.gone) return;
    this.gone = true;
    this.fail(new DriverFailure("crash", signal ? `driver process was killed by ${signal}` : `driver process exited with status ${code}`));
  }

  /** Split stdout into lines, refusing a line longer than MAX_LINE_BYTES before it is buffered whole. */
  private onData(chunk: Buffer): void {
    if (this.dead) return; // a failed driver is being killed: what it still writes is not read
    let lines: string[];
    try {
      lines = this.lines.push(chunk);
    } catch (err) {
      if (err instanceof LineTooLong) return this.tooLong();
      throw err;
    }
    for (const line of lines) {
      this.onLine(line);
      if (this.dead) return;
    }
  }

  private tooLong(): void {
    this.child.stdout.destroy();
    this.fail(new DriverFailure("protocol", `driver wrote a line longer than ${MAX_LINE_BYTES} bytes`), true);
  }

  /** Why the driver failed while idle (after its last reply, before the next request), if it did. */
  get failedIdle(): DriverFailure | undefined {
    return this.idleFailure;
  }

  static async start(opts: ChildDriverOptions): Promise<ChildProcessDriver> {
    // Leading NAME=value words set the driver's environment, as a shell would.
    const env = { ...(opts.env ?? process.env) };
    const words = [opts.command, ...opts.args];
    while (words.length > 1 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!)) {
      const w = words.shift()!;
      env[w.slice(0, w.indexOf("="))] = w.slice(w.indexOf("=") + 1);
    }
    // Its own process group, so that the driver and everything it starts can be killed together.
    const child = spawn(words[0]!, words.slice(1), { stdio: ["pipe", "pipe", "pipe"], env, detached: true });
    const d = new ChildProcessDriver(child);
    child.stderr.on("data", boundedStderr(opts.onStderr));
    const startMs = opts.startTimeoutMs ?? 10000;
    const timer = setTimeout(() => d.fail(new DriverFailure("timeout", `no handshake within ${startMs} ms`), true), startMs);
    try {
      const msg = await d.request({ type: "hello", contractVersion: CONTRACT_VERSION }, "hello");
      const { type: _t, id: _i, ...hs } = msg;
      const theirs = String(hs.contractVersion);
      if (!compatibleContract(theirs)) throw new DriverFailure("protocol", `driver speaks contract ${theirs}, runner speaks ${CONTRACT_VERSION}`);
      d.hs = hs as unknown as Handshake;
      return d;
    } catch (err) {
      d.abort();
      throw err instanceof DriverFailure && err.kind === "unavailable" ? new DriverUnavailable(err.message) : err;
    } finally {
      clearTimeout(timer);
    }
  }

  get handshake(): Handshake {
    if (!this.hs) throw new DriverFailure("protocol", "no handshake yet");
    return this.hs;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private onLine(line: string): void {
    if (this.dead) return;
    try {
      this.handleLine(line);
    } catch (err) {
      this.fail(new DriverFailure("protocol", `driver output could not be handled: ${err instanceof Error ? err.message : String(err)}`), true);
    }
  }

  private handleLine(line: string): void {
    let msg: Record<string, unknown>;
    if (jsonDepth(line, MAX_REPLY_DEPTH) > MAX_REPLY_DEPTH) return this.fail(new DriverFailure("protocol", `driver wrote a message nested deeper than ${MAX_REPLY_DEPTH} levels`), true);
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return this.fail(new DriverFailure("protocol", `driver wrote a line that is not JSON: ${line.slice(0, 120)}`), true);
    }
    if (typeof msg !== "object" || msg === null || Array.isArray(msg)) return this.fail(new DriverFailure("protocol", `driver wrote a line that is not a JSON object: ${line.slice(0, 120)}`), true);
    const problems = schemaProblems(RESPONSE_SCHEMA, msg, "driver output");
    const p = typeof msg.id === "number" ? this.pending.get(msg.id) : undefined;
    if (!p) return this.fail(new DriverFailure("protocol", `driver answered an unknown request: ${line.slice(0, 120)}`), true);
    this.pending.delete(msg.id as number);
    // Names outside the contract's vocabularies (an errno alias, an unknown feature) are said in words first.
    const named = replyNameProblems(msg, CONTRACT_VERSION);
    if (problems.length > 0 || named.length > 0)
      return p.reject(new DriverFailure("protocol", `malformed ${p.what} reply: ${[...named, ...problems.map((q) => `${q.pointer}: ${q.expected}`)].join("; ")}`));
    if (msg.type === "error") {
      const kind = msg.kind === "unsupported" || msg.kind === "protocol" || msg.kind === "unavailable" ? msg.kind : "internal";
      return p.reject(new DriverFailure(kind, String(msg.message)));
    }
    if (msg.type !== p.expects) return p.reject(new DriverFailure("protocol", `expected a ${p.expects} reply to ${p.what}, got ${String(msg.type)}`));
    p.resolve(msg);
  }

  fail(err: DriverFailure, kill = false): void {
    if (!this.dead) {
      this.dead = err;
      if (this.pending.size === 0) this.idleFailure = err;
    }
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
    if (kill) this.kill();
  }

  private kill(): void {
    killGroup(this.child.pid);
    if (!this.exited) this.child.kill("SIGKILL");
  }

  private request(body: Record<string, unknown>, what: string): Promise<Record<string, unknown>> {
    if (this.dead) return Promise.reject(this.dead);
    this.resetDone = undefined;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, what, expects: REPLY_TO[String(body.type)]! });
      this.child.stdin.write(JSON.stringify({ ...body, id }) + "\n");
    });
  }

  async call(op: Op): Promise<OpResult> {
    const msg = await this.request({ type: "call", op: opToWire(op) }, op.op);
    return resultFromWire(msg.result);
  }

  /** Several steps in one request (contract 1.4); refused before anything is sent to a driver whose handshake does not offer it. */
  async batch(steps: BatchStep[], thenReset = false): Promise<BatchReply> {
    const max = batchLimit(this.handshake);
    if (steps.length > max) throw new DriverFailure("protocol", max === 0 ? "the driver does not run batched calls (its handshake states no batch)" : `a batch of ${steps.length} steps; the driver takes at most ${max}`);
    const msg = await this.request({ type: "batch", steps: steps.map(batchStepToWire), ...(thenReset ? { reset: true } : {}) }, "batch");
    const reply = batchReplyFromWire(msg, steps.length);
    if (reply.released !== undefined) this.resetDone = { released: reply.released };
    return reply;
  }

  /** The reset a batch sent with `reset` already did: the next reset() answers with it, unless a request came in between. */
  private resetDone: ResetReport | undefined;

  async reset(): Promise<ResetReport> {
    const done = this.resetDone;
    this.resetDone = undefined;
    if (done !== undefined && !this.dead) return done;
    const msg = await this.request({ type: "reset" }, "reset");
    return { released: msg.released as ResetReport["released"] };
  }

  async close(): Promise<void> {
    if (this.dead) return;
    const exited = new Promise<void>((r) => this.child.once("close", () => r()));
    let grace: NodeJS.Timeout | undefined;
    try {
      await Promise.race([this.request({ type: "shutdown" }, "shutdown"), new Promise((r) => (grace = setTimeout(r, 2000)))]);
    } catch {
      /* already gone */
    } finally {
      clearTimeout(grace);
    }
    this.child.stdin.end();
    const t = setTimeout(() => this.kill(), 2000);
    await exited;
    clearTimeout(t);
  }

  /** Kill the process now (timeouts, runner shutdown). */
  abort(reason = "aborted by the runner"): void {
    this.fail(new DriverFailure("crash", reason), true);
  }
}

/** Split a command line into words as a POSIX shell would (quotes and backslashes; no expansion). */
export function splitCommand(line: string): string[] {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && i + 1 < line.length && '"\\$`\n'.includes(line[i + 1]!)) cur += line[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new UsageError(`unterminated ${quote} quote in command: ${line}`);
  if (inWord) words.push(cur);
  return words;
}
