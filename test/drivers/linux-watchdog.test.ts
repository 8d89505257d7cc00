// The linux driver's watchdog (harness/drivers/linux/watchdog.ts) in this process: its
// budget is the thread's CPU time, so time the thread spends off the CPU (a loaded
// machine, a stolen vCPU) does not use it up, and a wall-time cap still stops a thread
// that sleeps. No KVM needed: the thread sleeps in a futex wait and spins in a loop.
import { expect } from "chai";
import { machine } from "node:os";
import { threadCpuMs } from "../../harness/drivers/linux/libc.js";
import { Watchdog } from "../../harness/drivers/linux/watchdog.js";

const SIGNAL = "SIGUSR2";
const SIGUSR2 = 12;

/** Off the CPU for ms of wall time. */
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
/** On the CPU for ms of this thread's CPU time. */
const spin = (ms: number) => {
  const end = threadCpuMs() + ms;
  while (threadCpuMs() < end);
};
/** Node runs a signal's listeners when its event loop polls: after a timer, before setImmediate callbacks. */
const turns = async () => {
  await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setImmediate(r));
};

describe("linux driver: the watchdog's budget is the thread's CPU time, capped in wall time", function () {
  this.timeout(20000);
  let fired = 0;
  const listener = () => void fired++;
  let watchdog: Watchdog;

  before(function () {
    if (process.platform !== "linux" || machine() !== "x86_64") this.skip();
    process.on(SIGNAL, listener);
    watchdog = Watchdog.create(SIGUSR2);
  });
  after(() => {
    watchdog?.disarm();
    watchdog?.delete();
    process.off(SIGNAL, listener);
  });
  // signals of the test before are delivered before the count starts again
  beforeEach(async () => {
    watchdog.disarm();
    await turns();
    fired = 0;
  });

  it("does not fire while the thread is off the CPU longer than its budget, and fires once the thread has run it", async () => {
    watchdog.arm(40, 5000);
    sleep(200);
    await turns();
    expect(fired, "after 200 ms asleep with a 40 ms budget").to.equal(0);
    spin(80);
    await turns();
    expect(fired, "after running 80 ms").to.be.greaterThan(0);
  });

  it("fires at the wall-time cap for a thread that sleeps", async () => {
    watchdog.arm(5000, 50);
    sleep(200);
    await turns();
    expect(fired).to.be.greaterThan(0);
  });

  it("a slice without a CPU budget fires on wall time alone; disarmed, it does not fire", async () => {
    watchdog.arm(undefined, 30);
    sleep(100);
    watchdog.disarm();
    await turns();
    expect(fired).to.be.greaterThan(0);
    fired = 0;
    watchdog.arm(20, 40);
    watchdog.disarm();
    spin(40);
    sleep(80);
    await turns();
    expect(fired).to.equal(0);
  });
});
