// What a successful step returns when that is not a value two implementations must agree
// on: a new fd, a mapped address or a driver's handle. Operations say so in ops.ts
// (`returns`); ioctl requests in spec/constants.json (`returns: "fd"`).
import type { Spec } from "../index.js";
import { OPS, type OpSpec } from "./ops.js";

export type HandleKind = NonNullable<OpSpec["returns"]>;

export function handleKind(spec: Spec, op: { op: string; request?: unknown }): HandleKind | undefined {
  const declared = (OPS as Record<string, OpSpec>)[op.op]?.returns;
  if (declared !== undefined || op.op !== "ioctl" || typeof op.request !== "string") return declared;
  const name = op.request.split("@")[0]!;
  return spec.ioctlRevisions(name).some((r) => r.def.returns === "fd") ? "fd" : undefined;
}
