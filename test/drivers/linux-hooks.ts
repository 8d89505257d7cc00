// Mocha hooks every linux-driver test file needs: open one driver (skip the file where
// /dev/kvm cannot be opened), reset it after each test, close it at the end.
import { kvmUnavailableReason } from "../../harness/drivers/linux/index.js";
import { LinuxDriver } from "../../harness/drivers/linux/driver.js";

/** Register the hooks in the current describe; the returned function gives the open driver. */
export function useLinuxDriver(): () => LinuxDriver {
  let d: LinuxDriver | undefined;
  before(function () {
    const reason = kvmUnavailableReason();
    if (reason !== undefined) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    d = LinuxDriver.open();
  });
  afterEach(async () => {
    if (d) await d.reset();
  });
  after(async () => {
    if (d) await d.close();
  });
  return () => d!;
}
