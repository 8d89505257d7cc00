// Touches a private guest_memfd page for real (MMAP without INIT_SHARED), so the
// process must die of SIGBUS. Prints the driver's prediction first; the linux
// driver test compares it with the signal the process really died of.
//   node linux-touch.js read|write
import { release } from "node:os";
import { loadSpec } from "../../spec/index.js";
import * as libc from "../../harness/drivers/linux/libc.js";
import { checkAccess } from "../../harness/drivers/linux/memory.js";
import { defaultProfile } from "../../harness/drivers/linux/probe.js";

const write = process.argv[2] === "write";
const spec = loadSpec();
const profile = defaultProfile(spec, release());
const request = (name: string) => spec.ioctl(name, profile)!.request;

const kvm = libc.open("/dev/kvm", 2n, 0n);
const vm = libc.ioctlValue(kvm.ret, request("KVM_CREATE_VM"), 0n);
const gmem = libc.ioctlBuffer(vm.ret, request("KVM_CREATE_GUEST_MEMFD"), Buffer.from(spec.codec.encode("kvm_create_guest_memfd", { size: 4096, flags: spec.constant("GUEST_MEMFD_FLAG_MMAP", profile)! })));
const map = libc.mmap(0n, 4096n, 3n, 1n, gmem.ret, 0n);
if (kvm.ret < 0n || vm.ret < 0n || gmem.ret < 0n || map.ret < 0n) {
  process.stdout.write(JSON.stringify({ setup: "failed" }) + "\n");
  process.exit(3);
}
const predicted = checkAccess(map.ret, 1, write, libc.pageSize());
process.stdout.write(JSON.stringify({ predicted: "signal" in predicted ? spec.signalName(predicted.signal) : "none" }) + "\n", () => {
  if (write) libc.copyToAddress(map.ret, Uint8Array.of(1));
  else libc.copyFromAddress(map.ret, 1);
  process.stdout.write(JSON.stringify({ survived: true }) + "\n");
});
