// openLinux(): the linux driver in a child process (harness/drivers/linux/main.ts),
// so a SIGBUS, a hang or a crash of the kernel interface takes down only the child.
import { closeSync, fstatSync, openSync } from "node:fs";
import { machine } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ProfileName } from "../../../spec/index.js";
import { DriverUnavailable, type Driver } from "../../../spec/driver/contract.js";
import { ChildProcessDriver } from "../../protocol/child.js";

export interface LinuxOptions {
  /** the uAPI revision whose rules apply (default: newest release not newer than the running kernel) */
  profile?: ProfileName;
  /** how long one guest program may run before KVM_RUN is interrupted */
  guestTimeoutMs?: number;
  /** where the child's stderr goes (never parsed) */
  onStderr?: (chunk: string) => void;
}

/** interpreter and baseline code only (no Maglev/TurboFan), see openLinux */
export const CHILD_NODE_OPTIONS: readonly string[] = ["--max-opt=1"];

export const LINUX_MAIN = join(dirname(fileURLToPath(import.meta.url)), "main.js");

/** Why the KVM device cannot be used here, or undefined when it can. */
export function kvmUnavailableReason(device = "/dev/kvm", arch = machine()): string | undefined {
  // Structs are encoded little-endian and guest programs are x86 code.
  if (arch !== "x86_64") return `the linux driver supports x86_64 only (its struct encoding is little-endian and its guest code is x86); this machine is ${arch}`;
  try {
    const fd = openSync(device, "r+");
    const isDevice = fstatSync(fd).isCharacterDevice();
    closeSync(fd);
    return isDevice ? undefined : `${device} is not a character device`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    const why: Record<string, string> = {
      ENOENT: `${device} does not exist (no KVM on this machine, or the kvm module is not loaded)`,
      EACCES: `${device} exists but this user may not open it read-write (add the user to the kvm group)`,
      EPERM: `${device} exists but opening it is not permitted`,
      ENXIO: `${device} exists but no KVM module backs it`,
      ENODEV: `${device} exists but no KVM module backs it`,
    };
    return why[code] ?? `${device} cannot be opened read-write: ${code} (${(err as Error).message})`;
  }
}

export async function openLinux(options: LinuxOptions = {}): Promise<Driver> {
  const reason = kvmUnavailableReason();
  if (reason !== undefined) throw new DriverUnavailable(reason);
  // The child lives for one run and spends it in system calls: V8's optimising tiers cost it more CPU
  // (compiling hot functions anew in every child: about 0.3 s of CPU a run here) than they save. Extra node
  // options for the child alone: PRIVMEM_CTS_LINUX_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=DIR").
  const nodeArgs = process.env["PRIVMEM_CTS_LINUX_NODE_ARGS"]?.split(" ").filter((a) => a !== "") ?? [];
  const args = [...CHILD_NODE_OPTIONS, ...nodeArgs, LINUX_MAIN];
  if (options.profile !== undefined) args.push("--profile", options.profile);
  if (options.guestTimeoutMs !== undefined) args.push("--guest-timeout-ms", String(options.guestTimeoutMs));
  return ChildProcessDriver.start({
    command: process.execPath,
    args,
    startTimeoutMs: 30000,
    ...(options.onStderr ? { onStderr: options.onStderr } : {}),
  });
}
