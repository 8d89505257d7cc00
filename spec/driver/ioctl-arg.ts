// What an `ioctl` operation's `arg` means, the same in every driver: a request
// that takes a value (or nothing, or a pointer to a u64) takes an integer; a
// request that takes a struct takes a field map. An integer given to a struct
// request is never read as a pointer: every driver refuses it as a protocol error,
// and a case that wants the kernel to meet a pointer it cannot read says
// `pointer: "invalid"`.
import type { IoctlDef } from "../index.js";
import type { FieldValues } from "./contract.js";

/** Why `arg` does not fit the request (a protocol error), or undefined when it does. */
export function ioctlArgProblem(def: IoctlDef, arg: bigint | FieldValues | undefined): string | undefined {
  const byValue = def.arg === null || def.arg === "value" || def.arg === "u64";
  if (byValue) return typeof arg === "object" ? `${def.name} takes ${def.arg === "u64" ? "a u64" : "an integer"}, not a field map` : undefined;
  if (typeof arg === "bigint")
    return `${def.name} takes a struct ${def.buffer ?? def.arg} as a field map, not an integer (an integer is never a pointer; pointer: "invalid" passes one the kernel cannot read)`;
  return undefined;
}
