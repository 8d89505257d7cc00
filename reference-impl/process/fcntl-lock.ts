// fcntl(2) with a struct flock argument: the `fcntl_lock` operation. The struct is the
// caller's memory: copied in (EFAULT for an invalid pointer) after the fd is looked up,
// and copied back for F_GETLK / F_OFD_GETLK (spec/driver/fcntl-arg.ts says what the
// argument means; locks.ts holds the locks).
import { CodecError, type FieldMap } from "../../spec/codec.js";
import { DriverFailure, type OpOf, type OpResult, type OutValue } from "../../spec/driver/contract.js";
import { FLOCK_COMMANDS, fcntlLockProblem } from "../../spec/driver/fcntl-arg.js";
import { fail } from "../lib/errno.js";
import type { SyscallContext } from "./file.js";
import { fcntlRecordLock } from "./locks.js";

export function sysFcntlLock(ctx: SyscallContext, op: OpOf<"fcntl_lock">): OpResult {
  const { spec } = ctx.kernel.config;
  const profile = ctx.kernel.revision.profile;
  const problem = fcntlLockProblem(spec, profile, op.cmd, op.lock);
  if (problem !== undefined) throw new DriverFailure("protocol", problem);
  const command = FLOCK_COMMANDS.find((name) => spec.constant(name, profile) === op.cmd)!.slice(2);
  ctx.process.files.get(op.fd);
  if (op.pointer === "invalid") fail("EFAULT");
  let user;
  try {
    user = spec.codec.decode("flock", spec.codec.encode("flock", (op.lock ?? {}) as FieldMap));
  } catch (err) {
    if (err instanceof CodecError) throw new DriverFailure("protocol", `fcntl_lock: ${err.message}`);
    throw err;
  }
  const after = fcntlRecordLock(ctx, op.fd, command, user);
  const written = spec.codec.decode("flock", spec.codec.encode("flock", after as FieldMap));
  return { ret: 0n, out: written as { [k: string]: OutValue } };
}
