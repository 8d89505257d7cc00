// A small helper layer for TypeScript suites, in the spirit of kvm_util
// (tools/testing/selftests/kvm/include/kvm_util.h): each helper makes one call, stops the
// case with ASSERT_OK when it fails, and returns what the next call needs. And the JSON
// fixtures of suites/*.fixtures.json, callable from a TypeScript suite.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Op, OpResult } from "../../spec/driver/contract.js";
import { OPS, type ParamSpec } from "../../spec/driver/ops.js";
import { SUITES_DIR } from "../../spec/paths.js";
import { applyArguments, parseFixtureCall } from "../case/fixture-call.js";
import type { Fixture, TestContext } from "./index.js";

/** A constant's name or a number. */
export type IntArg = string | bigint;

const int = (t: TestContext, v: IntArg): bigint => (typeof v === "bigint" ? v : t.value(v));

/** A call that must succeed: its result, or the case stops. */
export async function must(t: TestContext, op: Op, what: string): Promise<OpResult> {
  const r = await t.call(op);
  t.ASSERT_OK(r, what);
  return r;
}

/** open("/dev/kvm", O_RDWR) */
export async function kvmOpen(t: TestContext): Promise<bigint> {
  return (await must(t, { op: "open", path: "/dev/kvm", flags: t.c("O_RDWR") }, "open /dev/kvm")).ret;
}

/** vm_create(type): /dev/kvm and a VM of `type` (a constant name such as "KVM_X86_SNP_VM", or its number). */
export async function vmCreate(t: TestContext, type: IntArg = "KVM_X86_DEFAULT_VM"): Promise<{ kvm: bigint; vm: bigint }> {
  const kvm = await kvmOpen(t);
  const vm = await must(t, { op: "ioctl", fd: kvm, request: "KVM_CREATE_VM", arg: int(t, type) }, `KVM_CREATE_VM(${String(type)})`);
  return { kvm, vm: vm.ret };
}

/** vm_create_guest_memfd(vm, size, flags) */
export async function vmCreateGuestMemfd(t: TestContext, vm: bigint, size: IntArg, flags: IntArg = 0n): Promise<bigint> {
  const r = await must(t, { op: "ioctl", fd: vm, request: "KVM_CREATE_GUEST_MEMFD", arg: { size: int(t, size), flags: int(t, flags) } }, `KVM_CREATE_GUEST_MEMFD(size ${String(size)}, flags ${String(flags)})`);
  return r.ret;
}

/** vm_vcpu_add(vm, id) */
export async function vcpuCreate(t: TestContext, vm: bigint, id: IntArg = 0n): Promise<bigint> {
  return (await must(t, { op: "ioctl", fd: vm, request: "KVM_CREATE_VCPU", arg: int(t, id) }, `KVM_CREATE_VCPU(${String(id)})`)).ret;
}

/** kvm_check_cap / vm_check_cap: KVM_CHECK_EXTENSION on a system or VM fd. */
export async function checkCap(t: TestContext, fd: bigint, cap: IntArg): Promise<bigint> {
  return (await must(t, { op: "ioctl", fd, request: "KVM_CHECK_EXTENSION", arg: int(t, cap) }, `KVM_CHECK_EXTENSION(${String(cap)})`)).ret;
}

/** The JSON fixtures files a TypeScript suite may call. */
export const SHARED_FIXTURES = join(SUITES_DIR, "kvm.fixtures.json");

type JsonStep = Record<string, unknown> & { op: Op["op"]; as?: string };

/**
 * A JSON fixture as a TypeScript fixture: `fixture: "vm_gmem"` in a suite whose
 * `fixtures: { vm_gmem: jsonFixture("vm_gmem_of(type=KVM_X86_DEFAULT_VM, size=4*PAGE_SIZE, flags=0)") }`.
 * The same call syntax and requires as in a JSON suite; `self` is the bindings its steps
 * made by name (`self.vm`, `self.gmem`). Names the call does not give are the case's variants.
 */
export function jsonFixture(ref: string, file: string = SHARED_FIXTURES): Fixture<Record<string, bigint>> {
  const call = parseFixtureCall(ref);
  if (typeof call === "string") throw new Error(`jsonFixture: ${call}`);
  const all = (JSON.parse(readFileSync(file, "utf8")) as { fixtures: Record<string, { description?: string; requires?: string[]; steps: JsonStep[] }> }).fixtures;
  const fx = all[call.name];
  if (!fx) throw new Error(`jsonFixture: no fixture ${call.name} in ${file}`);
  const steps = fx.steps.map((s) => applyArguments(s, call.args) as JsonStep);
  return {
    ...(fx.description ? { description: fx.description } : {}),
    ...(fx.requires ? { requires: fx.requires } : {}),
    async setup(t) {
      const bound: Record<string, bigint> = {};
      // $name refs become the bound numbers; the rest is an expression over constants and variants.
      const expr = (v: unknown): bigint => t.value(String(v).replace(/\$([a-z_][a-z0-9_]*)/g, (m, n: string) => (bound[n] === undefined ? m : `(${bound[n]})`)));
      const arg = (p: ParamSpec, v: unknown): unknown => {
        if (p.kind === "int") return expr(v);
        if (p.kind === "int-list") return (v as unknown[]).map(expr);
        if (p.kind === "int-or-fields" && typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, Array.isArray(x) ? x.map(expr) : expr(x)]));
        if (p.kind === "int-or-fields") return expr(v);
        // {hex} or {fill, len}, as a JSON step writes bytes.
        if (p.kind === "bytes") {
          const b = v as { hex?: string; fill?: unknown; len?: unknown };
          return b.hex !== undefined ? new Uint8Array(Buffer.from(b.hex, "hex")) : new Uint8Array(Number(expr(b.len))).fill(Number(expr(b.fill) & 0xffn));
        }
        return v;
      };
      for (const step of steps) {
        const op: Record<string, unknown> = { op: step.op };
        for (const [name, p] of Object.entries(OPS[step.op].params) as [string, ParamSpec][]) if (step[name] !== undefined) op[name] = arg(p, step[name]);
        const r = await must(t, op as unknown as Op, `${call.name}: ${step.op}${typeof step.request === "string" ? ` ${step.request}` : ""}`);
        if (step.as !== undefined) bound[step.as] = r.ret;
      }
      return bound;
    },
  };
}
