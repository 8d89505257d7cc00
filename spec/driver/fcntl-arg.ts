// What `fcntl` and `fcntl_lock` arguments mean, the same in every driver (as
// ioctl-arg.ts says for ioctl): the record-lock commands take a pointer to a
// struct flock, so `fcntl` (integer argument) refuses them and `fcntl_lock` takes
// only them, with the struct as a field map. An integer is never read as a pointer.
import type { ProfileName, Spec } from "../index.js";
import type { FieldValues } from "./contract.js";

/** The fcntl commands whose argument is a struct flock *. */
export const FLOCK_COMMANDS = ["F_GETLK", "F_SETLK", "F_SETLKW", "F_OFD_GETLK", "F_OFD_SETLK", "F_OFD_SETLKW"] as const;

function flockCommand(spec: Spec, profile: ProfileName, cmd: bigint): string | undefined {
  return FLOCK_COMMANDS.find((name) => spec.constant(name, profile) === cmd);
}

/** Why `fcntl` (integer argument) must not issue `cmd`, or undefined when it may. */
export function fcntlArgProblem(spec: Spec, profile: ProfileName, cmd: bigint): string | undefined {
  const name = flockCommand(spec, profile, cmd);
  return name === undefined ? undefined : `fcntl ${name} takes a struct flock, not an integer (an integer is never a pointer): use fcntl_lock`;
}

/** Why `fcntl_lock` cannot issue `cmd` with `lock` (a protocol error), or undefined when it can. */
export function fcntlLockProblem(spec: Spec, profile: ProfileName, cmd: bigint, lock: bigint | FieldValues | undefined): string | undefined {
  if (flockCommand(spec, profile, cmd) === undefined) return `fcntl_lock takes one of ${FLOCK_COMMANDS.join(", ")} (command ${cmd} is not one)`;
  if (typeof lock === "bigint") return `fcntl_lock takes a struct flock as a field map, not an integer (pointer: "invalid" passes one the kernel cannot read)`;
  return undefined;
}
