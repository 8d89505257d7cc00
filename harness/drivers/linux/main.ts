// Child-process entry of the linux driver: serves one LinuxDriver over the
// JSON-lines protocol on stdio, so a SIGBUS or a crash kills only this process.
//   node main.js [--profile <name>] [--guest-timeout-ms <n>]
import { parseArgs } from "node:util";
import { serveDriver } from "../../protocol/server.js";
import { LinuxDriver } from "./driver.js";
import { blockingStdio } from "./stdio.js";

const { values } = parseArgs({
  options: {
    profile: { type: "string" },
    "guest-timeout-ms": { type: "string" },
  },
});

const timeout = values["guest-timeout-ms"] === undefined ? undefined : Number(values["guest-timeout-ms"]);
if (timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0)) {
  process.stderr.write(`--guest-timeout-ms must be a positive integer\n`);
  process.exit(2);
}

// Blocking stdio when spawn() left it so (it does): no event loop turn per message.
const stdio = blockingStdio();
await serveDriver(
  async () =>
    LinuxDriver.open({
      ...(values.profile !== undefined ? { profile: values.profile } : {}),
      ...(timeout !== undefined ? { guestTimeoutMs: timeout } : {}),
    }),
  stdio ?? process.stdin,
  stdio ?? process.stdout,
);
