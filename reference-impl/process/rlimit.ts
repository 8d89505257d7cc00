// A process's resource limits and effective capabilities, as far as the model uses them
// (kernel/sys.c: do_prlimit; kernel/capability.c: capset, capable). The modelled process
// starts as the linux driver does: root with every capability, RLIMIT_MEMLOCK at the
// kernel's default (MLOCK_LIMIT, 8 MiB since 5.16). Not modelled: fork inheriting what a
// case changed (a forked child starts from the defaults), limits other than their values.
import { fail } from "../lib/errno.js";
import type { SyscallContext } from "./file.js";
import type { Process } from "./process.js";

/** RLIM_NLIMITS of asm-generic/resource.h */
const RLIM_NLIMITS = 16n;
const U64 = (1n << 64n) - 1n;

interface Credentials {
  limits: Map<bigint, { cur: bigint; max: bigint }>;
  dropped: Set<bigint>;
}
const creds = new WeakMap<Process, Credentials>();

function credentialsOf(p: Process): Credentials {
  let c = creds.get(p);
  if (c === undefined) creds.set(p, (c = { limits: new Map(), dropped: new Set() }));
  return c;
}

function defaultLimit(ctx: SyscallContext, resource: bigint): { cur: bigint; max: bigint } {
  const K = ctx.kernel.config.spec;
  const memlock = K.constant("RLIMIT_MEMLOCK", ctx.kernel.revision.profile);
  const mlockLimit = K.constant("MLOCK_LIMIT", ctx.kernel.revision.profile) ?? 8n << 20n;
  return resource === memlock ? { cur: mlockLimit, max: mlockLimit } : { cur: U64, max: U64 };
}

/** rlimit(): the soft limit of `resource` for the calling process. */
export function rlimit(ctx: SyscallContext, resource: bigint): bigint {
  return (credentialsOf(ctx.process).limits.get(resource) ?? defaultLimit(ctx, resource)).cur;
}

/** capable(): the capability is in the process's effective set (root: all but those dropped). */
export function capable(ctx: SyscallContext, cap: bigint): boolean {
  return !credentialsOf(ctx.process).dropped.has(cap);
}

/** prlimit64(0, resource, new, old) (an absent max: the old one): EINVAL for an unknown resource or cur > max, EPERM to raise max without CAP_SYS_RESOURCE. */
export function sysSetrlimit(ctx: SyscallContext, resource: bigint, cur: bigint, max: bigint | undefined): { ret: bigint; out: { cur: bigint; max: bigint } } {
  const r = BigInt.asUintN(32, resource);
  if (r >= RLIM_NLIMITS) fail("EINVAL");
  const c = credentialsOf(ctx.process);
  const old = c.limits.get(r) ?? defaultLimit(ctx, r);
  const next = { cur: BigInt.asUintN(64, cur), max: max === undefined ? old.max : BigInt.asUintN(64, max) };
  if (next.cur > next.max) fail("EINVAL");
  const sysResource = ctx.kernel.config.spec.constant("CAP_SYS_RESOURCE", ctx.kernel.revision.profile)!;
  if (next.max > old.max && !capable(ctx, sysResource)) fail("EPERM");
  c.limits.set(r, next);
  return { ret: 0n, out: old };
}

/** capset() of the effective set without `cap` (it stays permitted; the driver's reset gives it back). */
export function sysDropCapability(ctx: SyscallContext, cap: bigint): bigint {
  if (cap < 0n || cap > 63n) fail("EINVAL");
  credentialsOf(ctx.process).dropped.add(cap);
  return 0n;
}
