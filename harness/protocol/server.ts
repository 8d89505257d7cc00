// Serve a Driver over the JSON-lines protocol on stdio: the other end of
// child-process and remote transports. Used by `privmem-cts serve` (the reference)
// and by the linux driver's child process.
import { compatibleContract, CONTRACT_VERSION, DriverFailure, DriverUnavailable, type Driver } from "../../spec/driver/contract.js";
import { boundedLines, LineTooLong, MAX_LINE_BYTES } from "./lines.js";
import { batchReplyToWire, batchStepsFromWire, opFromWire, resultToWire } from "./wire.js";
import { batchLimit, MAX_BATCH_STEPS, runBatch } from "../../spec/driver/batch.js";

/** input: process.stdin or any source of chunks that can be told to stop; output: anything with write (process.stdout) */
export async function serveDriver(open: () => Promise<Driver>, input: AsyncIterable<Buffer | string> & { destroy(): void } = process.stdin, output: { write(text: string): unknown } = process.stdout, maxLine = MAX_LINE_BYTES): Promise<void> {
  const send = (msg: object) => output.write(JSON.stringify(msg) + "\n");
  const session: { driver?: Driver } = {};
  try {
    for await (const line of boundedLines(input, maxLine)) {
      if (line.trim() === "") continue;
      if ((await answer(line, open, session, send)) === "stop") return;
    }
  } catch (err) {
    if (!(err instanceof LineTooLong)) throw err;
    // A peer that sends an endless line is not speaking the protocol: say so once and stop serving.
    send({ type: "error", id: 0, kind: "protocol", message: `the runner sent ${err.message}: the protocol's lines are at most ${maxLine} bytes` });
    input.destroy();
  }
  await session.driver?.close();
}

/** Answer one message; "stop" ends the conversation (shutdown, or a contract this driver does not speak). */
async function answer(line: string, open: () => Promise<Driver>, session: { driver?: Driver }, send: (msg: object) => void): Promise<"stop" | undefined> {
  let id = 0;
  try {
    const msg = JSON.parse(line) as Record<string, unknown>;
    id = typeof msg.id === "number" ? msg.id : 0;
    switch (msg.type) {
      case "hello": {
        const theirs = String(msg.contractVersion ?? "");
        if (!compatibleContract(theirs)) {
          send({ type: "error", id, kind: "protocol", message: `contract version ${theirs} is not supported (this driver speaks ${CONTRACT_VERSION})` });
          return "stop";
        }
        session.driver ??= await open();
        // Any driver served here runs batches (through its own call when it has no batch of its own).
        send({ type: "hello", id, ...session.driver.handshake, batch: { maxSteps: batchLimit(session.driver.handshake) || MAX_BATCH_STEPS } });
        return undefined;
      }
      case "call": {
        if (!session.driver) throw new DriverFailure("protocol", "call before hello");
        const result = await session.driver.call(opFromWire(msg.op));
        send({ type: "result", id, result: resultToWire(result) });
        return undefined;
      }
      case "batch": {
        const d = session.driver;
        if (!d) throw new DriverFailure("protocol", "batch before hello");
        const max = batchLimit(d.handshake) || MAX_BATCH_STEPS;
        const steps = batchStepsFromWire(msg.steps, max);
        const reply = d.batch !== undefined ? await d.batch(steps) : await runBatch((op) => d.call(op), steps, max);
        // reset: the runner's next reset, done now when every step ran (one message fewer per case)
        if (msg.reset === true && reply.results.length === steps.length && reply.error === undefined) {
          try {
            reply.released = (await d.reset()).released;
          } catch {
            /* not said: the runner then sends its reset, which reports this */
          }
        }
        send({ type: "results", id, ...batchReplyToWire(reply) });
        return undefined;
      }
      case "reset": {
        if (!session.driver) throw new DriverFailure("protocol", "reset before hello");
        send({ type: "reset", id, released: (await session.driver.reset()).released });
        return undefined;
      }
      case "shutdown":
        await session.driver?.close();
        send({ type: "bye", id });
        return "stop";
      default:
        throw new DriverFailure("protocol", `unknown message type ${JSON.stringify(msg.type)}`);
    }
  } catch (err) {
    const kind = err instanceof DriverUnavailable ? "unavailable" : err instanceof DriverFailure && (err.kind === "unsupported" || err.kind === "protocol") ? err.kind : "internal";
    send({ type: "error", id, kind, message: err instanceof Error ? err.message : String(err) });
    return undefined;
  }
}
