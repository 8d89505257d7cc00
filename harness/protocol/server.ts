// Serve a Driver over the JSON-lines protocol on stdio: the other end of
// child-process and remote transports. Used by `privmem-cts serve` (the reference)
// and by the linux driver's child process.
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { compatibleContract, CONTRACT_VERSION, DriverFailure, DriverUnavailable, type Driver } from "../../spec/driver/contract.js";
import { opFromWire, resultToWire } from "./wire.js";

export async function serveDriver(open: () => Promise<Driver>, input: Readable = process.stdin, output: Writable = process.stdout): Promise<void> {
  const send = (msg: object) => output.write(JSON.stringify(msg) + "\n");
  let driver: Driver | undefined;
  const lines = createInterface({ input, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === "") continue;
    let id = 0;
    try {
      const msg = JSON.parse(line) as Record<string, unknown>;
      id = typeof msg.id === "number" ? msg.id : 0;
      switch (msg.type) {
        case "hello": {
          const theirs = String(msg.contractVersion ?? "");
          if (!compatibleContract(theirs)) {
            send({ type: "error", id, kind: "protocol", message: `contract version ${theirs} is not supported (this driver speaks ${CONTRACT_VERSION})` });
            return;
          }
          driver ??= await open();
          send({ type: "hello", id, ...driver.handshake });
          break;
        }
        case "call": {
          if (!driver) throw new DriverFailure("protocol", "call before hello");
          const result = await driver.call(opFromWire(msg.op));
          send({ type: "result", id, result: resultToWire(result) });
          break;
        }
        case "reset": {
          if (!driver) throw new DriverFailure("protocol", "reset before hello");
          send({ type: "reset", id, released: (await driver.reset()).released });
          break;
        }
        case "shutdown":
          await driver?.close();
          send({ type: "bye", id });
          return;
        default:
          throw new DriverFailure("protocol", `unknown message type ${JSON.stringify(msg.type)}`);
      }
    } catch (err) {
      const kind = err instanceof DriverUnavailable ? "unavailable" : err instanceof DriverFailure && (err.kind === "unsupported" || err.kind === "protocol") ? err.kind : "internal";
      send({ type: "error", id, kind, message: err instanceof Error ? err.message : String(err) });
    }
  }
  await driver?.close();
}
