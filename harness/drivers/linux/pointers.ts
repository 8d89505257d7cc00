// User addresses inside struct arguments, as spec/layouts.json marks them
// ("pointer" on a field): the ranges the kernel will read or write through them.
// The driver refuses ranges that overlap its own memory (see ioctl.ts).
import type { ProfileName, Spec } from "../../../spec/index.js";
import { isScalar, type Decoded, type FieldDef, type PointerMarker } from "../../../spec/codec.js";
import { KVM_MAX_CPUID_ENTRIES } from "./uapi.js";

export type { PointerMarker };

export interface PointerRange {
  /** struct.field as the case named it */
  path: string;
  addr: bigint;
  len: bigint;
  /** the struct the address points at, when the marker names one (its own pointers are checked too) */
  payload?: string;
}

export function markedFields(spec: Spec, struct: string): { field: FieldDef; marker: PointerMarker }[] {
  return spec.codec.get(struct).fields.filter((f) => f.pointer !== undefined).map((f) => ({ field: f, marker: f.pointer! }));
}

/** Whether a struct (or a struct inside it) holds a user address. */
export function hasPointers(spec: Spec, struct: string, seen = new Set<string>()): boolean {
  if (seen.has(struct)) return false;
  seen.add(struct);
  const def = spec.codec.get(struct);
  return def.fields.some((f) => f.pointer !== undefined || (!isScalar(f.type) && hasPointers(spec, f.type, seen)));
}

/**
 * Bytes assumed behind an address whose length the layouts do not give: a
 * kvm_cpuid2 header with KVM_MAX_CPUID_ENTRIES entries (the largest table a
 * command of unknown layout writes), rounded up to whole pages; at least a page.
 */
export function unknownLength(spec: Spec, pageSize: number): bigint {
  const page = BigInt(pageSize);
  const table = BigInt(spec.codec.get("kvm_cpuid2").size) + KVM_MAX_CPUID_ENTRIES * BigInt(spec.codec.get("kvm_cpuid_entry2").size);
  return ((table + page - 1n) / page) * page;
}

/** The constant name, among `names`, whose value in the profile is `value`. */
function nameOf(spec: Spec, profile: ProfileName, names: string[], value: bigint): string | undefined {
  return names.find((n) => spec.constant(n, profile) === value);
}

/**
 * Every address range the marked fields of `struct` name, given the struct's
 * decoded values (nested structs included). Zero-length ranges are left out: the
 * kernel touches nothing there.
 */
export function pointerRanges(spec: Spec, profile: ProfileName, struct: string, values: { [f: string]: Decoded }, pageSize: number, path = struct): PointerRange[] {
  const out: PointerRange[] = [];
  const def = spec.codec.get(struct);
  for (const f of def.fields) {
    const v = values[f.name];
    if (!isScalar(f.type)) {
      const items = f.count === undefined ? [v] : (v as Decoded[]);
      items.forEach((item, i) => out.push(...pointerRanges(spec, profile, f.type, item as { [f: string]: Decoded }, pageSize, `${path}.${f.name}${f.count === undefined ? "" : `[${i}]`}`)));
      continue;
    }
    const m = f.pointer;
    if (m === undefined || typeof v !== "bigint") continue;
    const where = `${path}.${f.name}`;
    if (m.payload !== undefined && m.by !== undefined) {
      const chooser = values[m.by];
      const name = typeof chooser === "bigint" ? nameOf(spec, profile, Object.keys(m.payload), chooser) : undefined;
      if (name !== undefined && m.payload[name] === null) continue; // a value for this command, not an address
      const payload = name !== undefined ? m.payload[name]! : undefined;
      const len = payload !== undefined ? BigInt(spec.codec.get(payload).size) : unknownLength(spec, pageSize);
      out.push({ path: `${where} (${name ?? `${m.by} ${String(chooser)}`})`, addr: v, len, ...(payload !== undefined ? { payload } : {}) });
    } else if (m.size !== undefined) {
      const n = values[m.size];
      const len = typeof n === "bigint" ? n * (m.unit === "page" ? BigInt(pageSize) : 1n) : 0n;
      if (len > 0n) out.push({ path: where, addr: v, len });
    } else {
      out.push({ path: where, addr: v, len: unknownLength(spec, pageSize) });
    }
  }
  return out;
}

