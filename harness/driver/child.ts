// A Driver living in another process and spoken to over the JSON-lines protocol.
// Used for crash isolation (linux) and for `--driver remote:<command>`. Anything
// the process does wrong (dies, hangs, writes garbage) surfaces as a DriverFailure
// for the operation in flight; the runner then starts a fresh process.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { compatibleContract, CONTRACT_VERSION, DriverFailure, DriverUnavailable, type Driver, type Handshake, type Op, type OpResult, type ResetReport } from "./contract.js";
import { opToWire, resultFromWire } from "./wire.js";
import { schemaProblems } from "../../spec/validate.js";

/** Replies are checked against the response half of the protocol schema only. */
const RESPONSE_SCHEMA = "protocol.schema.json#/$defs/response";

interface Pending {
  resolve: (msg: Record<string, unknown>) => void;
  reject: (err: Error) => void;
  what: string;
  /** the reply type that answers this request */
  expects: string;
}

const REPLY_TO: Record<string, string> = { hello: "hello", call: "result", reset: "reset", shutdown: "bye" };

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

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
    lines.on("line", (line) => this.onLine(line));
    child.stderr.setEncoding("utf8");
    // "close" comes after stdout is drained, so a reply written just before exiting still counts.
    child.on("close", (code, signal) => {
      this.fail(new DriverFailure("crash", signal ? `driver process was killed by ${signal}` : `driver process exited with status ${code}`));
    });
    child.on("error", (err) => this.fail(new DriverFailure("crash", `driver process could not run: ${err.message}`)));
    child.stdin.on("error", () => {
      /* reported through "exit" */
    });
  }

  static async start(opts: ChildDriverOptions): Promise<ChildProcessDriver> {
    const child = spawn(opts.command, opts.args, { stdio: ["pipe", "pipe", "pipe"], env: opts.env ?? process.env });
    const d = new ChildProcessDriver(child);
    child.stderr.on("data", (chunk: string) => opts.onStderr?.(chunk));
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
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return this.fail(new DriverFailure("protocol", `driver wrote a line that is not JSON: ${line.slice(0, 120)}`), true);
    }
    const problems = schemaProblems(RESPONSE_SCHEMA, msg, "driver output");
    const p = typeof msg.id === "number" ? this.pending.get(msg.id) : undefined;
    if (!p) return this.fail(new DriverFailure("protocol", `driver answered an unknown request: ${line.slice(0, 120)}`), true);
    this.pending.delete(msg.id as number);
    if (problems.length > 0) return p.reject(new DriverFailure("protocol", `malformed ${p.what} reply: ${problems.map((q) => `${q.pointer}: ${q.expected}`).join("; ")}`));
    if (msg.type === "error") {
      const kind = msg.kind === "unsupported" || msg.kind === "protocol" || msg.kind === "unavailable" ? msg.kind : "internal";
      return p.reject(new DriverFailure(kind, String(msg.message)));
    }
    if (msg.type !== p.expects) return p.reject(new DriverFailure("protocol", `expected a ${p.expects} reply to ${p.what}, got ${String(msg.type)}`));
    p.resolve(msg);
  }

  fail(err: DriverFailure, kill = false): void {
    if (!this.dead) this.dead = err;
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
    if (kill) this.child.kill("SIGKILL");
  }

  private request(body: Record<string, unknown>, what: string): Promise<Record<string, unknown>> {
    if (this.dead) return Promise.reject(this.dead);
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

  async reset(): Promise<ResetReport> {
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
    const t = setTimeout(() => this.child.kill("SIGKILL"), 2000);
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
  if (quote) throw new Error(`unterminated ${quote} quote in command: ${line}`);
  if (inWord) words.push(cur);
  return words;
}
