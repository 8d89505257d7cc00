// The linux driver child's blocking stdio (harness/drivers/linux/stdio.ts): a child
// process spawned with pipes gets them blocking, reads what arrives chunk by chunk
// until end of file, and writes every byte of a long answer.
import { expect } from "chai";
import { spawn } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../spec/paths.js";
import { isBlocking } from "../../harness/drivers/linux/stdio.js";
import { O_NONBLOCK } from "../../harness/drivers/linux/uapi.js";

const STDIO = join(PROJECT_ROOT, "dist", "harness", "drivers", "linux", "stdio.js");
// echoes each chunk upper-cased, then a line with the byte count, once stdin ends
const ECHO = `const { blockingStdio } = await import(${JSON.stringify(STDIO)});
const s = blockingStdio();
if (s === undefined) { process.stderr.write("not blocking"); process.exit(3); }
let n = 0;
for await (const chunk of s) { n += chunk.length; s.write(chunk.toString().toUpperCase()); }
s.write("\\n" + n + "\\n");`;

describe("linux driver child: blocking stdio", function () {
  this.timeout(30000);

  before(function () {
    if (process.platform !== "linux") this.skip();
  });

  it("reads a spawned child's pipe until end of file and writes all of a long answer", async () => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", ECHO], { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    let err = "";
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    const text = "abc\n" + "x".repeat(300 * 1024) + "\n";
    child.stdin.end(text);
    const code = await new Promise<number | null>((r) => child.on("close", r));
    expect(err).to.equal("");
    expect(code).to.equal(0);
    expect(Buffer.concat(out).toString()).to.equal(text.toUpperCase() + `\n${text.length}\n`);
  });

  it("tells a blocking descriptor from a non-blocking one", () => {
    const fd = openSync("/dev/null", "r");
    try {
      expect(isBlocking(fd)).to.equal(true);
    } finally {
      closeSync(fd);
    }
    // O_NONBLOCK set by the opener (fs.openSync takes open(2) flags as a number; O_RDONLY is 0)
    const nb = openSync("/dev/null", Number(O_NONBLOCK));
    try {
      expect(isBlocking(nb)).to.equal(false);
    } finally {
      closeSync(nb);
    }
    expect(isBlocking(1 << 20), "a descriptor that is not open").to.equal(false);
  });
});
