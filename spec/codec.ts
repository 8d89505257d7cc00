// A struct codec derived from spec/layouts.json: field maps <-> bytes. Nothing is
// encoded by hand, so a wrong offset in the layouts shows up in every driver that
// talks to a real kernel.
export type ScalarType = "u8" | "u16" | "u32" | "u64" | "s32" | "s64";

/** A field that holds a user address the kernel reads or writes through (layouts.json "pointer"). */
export interface PointerMarker {
  /** a field of the same struct that holds the length */
  size?: string;
  unit?: "byte" | "page";
  /** a field whose value (a constant) chooses the payload */
  by?: string;
  /** constant name -> payload struct; null: the field is a value for that command */
  payload?: Record<string, string | null>;
  note?: string;
}

export interface FieldDef {
  name: string;
  offset: number;
  type: string;
  count?: number;
  aliases?: string[];
  union?: string;
  out?: boolean;
  pointer?: PointerMarker;
}

export interface StructDef {
  name: string;
  size: number;
  profiles: string;
  prefix?: string;
  note?: string;
  fields: FieldDef[];
}

/** Decoded values: integers are bigint; arrays and nested structs keep their shape. */
export type Decoded = bigint | Decoded[] | { [field: string]: Decoded };
/** Encoder input: integers as bigint or safe numbers, arrays, nested maps, or "field[i]" keys. */
export type FieldInput = bigint | number | FieldInput[] | { [field: string]: FieldInput };
export type FieldMap = { [field: string]: FieldInput };

const SCALAR_BYTES: Record<ScalarType, number> = { u8: 1, u16: 2, u32: 4, u64: 8, s32: 4, s64: 8 };

export function isScalar(type: string): type is ScalarType {
  return type in SCALAR_BYTES;
}

export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CodecError";
  }
}

export class StructCodec {
  constructor(private readonly structs: ReadonlyMap<string, StructDef>) {}

  get(name: string): StructDef {
    const s = this.structs.get(name);
    if (!s) throw new CodecError(`unknown struct ${name}`);
    return s;
  }

  sizeOf(type: string): number {
    return isScalar(type) ? SCALAR_BYTES[type] : this.get(type).size;
  }

  encode(name: string, values: FieldMap = {}): Uint8Array {
    const out = new Uint8Array(this.get(name).size);
    this.encodeInto(out, 0, name, values, name);
    return out;
  }

  private encodeInto(buf: Uint8Array, base: number, name: string, values: FieldMap, path: string): void {
    const def = this.get(name);
    const byName = fieldIndex(def);
    for (const key in values) {
      const value = values[key]!;
      // a plain field name needs no parsing; "field[i]" keys do
      const plain = byName.get(key);
      const m = plain !== undefined ? ([key, key, undefined] as const) : /^([a-z_][a-z0-9_]*)(?:\[(\d+)\])?$/.exec(key);
      const field = plain ?? (m ? byName.get(m[1]!) : undefined);
      if (!m || !field) throw new CodecError(`${path}: no field "${key}" (fields: ${def.fields.map((f) => f.name).join(", ")})`);
      const count = field.count ?? 1;
      const elem = this.sizeOf(field.type);
      if (m[2] !== undefined) {
        const i = Number(m[2]);
        if (field.count === undefined || i >= count) throw new CodecError(`${path}.${key}: index out of range (count ${count})`);
        this.encodeElement(buf, base + field.offset + i * elem, field.type, value, `${path}.${key}`);
      } else if (field.count !== undefined) {
        if (!Array.isArray(value) || value.length > count) throw new CodecError(`${path}.${key}: expected an array of at most ${count} elements`);
        value.forEach((v, i) => this.encodeElement(buf, base + field.offset + i * elem, field.type, v, `${path}.${key}[${i}]`));
      } else {
        this.encodeElement(buf, base + field.offset, field.type, value, `${path}.${key}`);
      }
    }
  }

  private encodeElement(buf: Uint8Array, at: number, type: string, value: FieldInput, path: string): void {
    if (isScalar(type)) {
      if (typeof value !== "bigint" && typeof value !== "number") throw new CodecError(`${path}: expected an integer`);
      writeScalar(buf, at, type, toBigInt(value, path), path);
    } else {
      if (typeof value !== "object" || value === null || Array.isArray(value)) throw new CodecError(`${path}: expected a field map for struct ${type}`);
      this.encodeInto(buf, at, type, value as FieldMap, path);
    }
  }

  decode(name: string, bytes: Uint8Array, at = 0): { [field: string]: Decoded } {
    return this.decodeView(name, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), at);
  }

  private decodeView(name: string, view: DataView, at: number): { [field: string]: Decoded } {
    const def = this.get(name);
    if (view.byteLength < at + def.size) throw new CodecError(`${name}: need ${def.size} bytes, have ${view.byteLength - at}`);
    const result: { [field: string]: Decoded } = {};
    for (const f of this.plan(def)) {
      const start = at + f.offset;
      if (f.count === undefined) {
        result[f.name] = f.scalar !== undefined ? viewScalar(view, start, f.scalar) : this.decodeView(f.type, view, start);
        continue;
      }
      const items: Decoded[] = new Array<Decoded>(f.count);
      for (let i = 0; i < f.count; i++) items[i] = f.scalar !== undefined ? viewScalar(view, start + i * f.elem, f.scalar) : this.decodeView(f.type, view, start + i * f.elem);
      result[f.name] = items;
    }
    return result;
  }

  /** A struct's fields as decoding walks them, worked out once per definition. */
  private plan(def: StructDef): PlannedField[] {
    let p = plans.get(def);
    if (p === undefined) {
      p = def.fields.map((f) => ({ name: f.name, type: f.type, offset: f.offset, count: f.count, scalar: isScalar(f.type) ? f.type : undefined, elem: this.sizeOf(f.type) }));
      plans.set(def, p);
    }
    return p;
  }

  /** Names of the fields the kernel writes back (decoded into a step's `out`). */
  outFields(name: string): string[] {
    return this.get(name).fields.filter((f) => f.out).map((f) => f.name);
  }
}

interface PlannedField {
  name: string;
  type: string;
  offset: number;
  count: number | undefined;
  /** the field's scalar type, undefined for a nested struct */
  scalar: ScalarType | undefined;
  /** bytes per element */
  elem: number;
}

const plans = new WeakMap<StructDef, PlannedField[]>();

/** A little-endian scalar through a DataView: one bigint, none per byte or half. */
function viewScalar(view: DataView, at: number, type: ScalarType): bigint {
  switch (type) {
    case "u8": return BigInt(view.getUint8(at));
    case "u16": return BigInt(view.getUint16(at, true));
    case "u32": return BigInt(view.getUint32(at, true));
    case "s32": return BigInt(view.getInt32(at, true));
    case "u64": return view.getBigUint64(at, true);
    case "s64": return view.getBigInt64(at, true);
  }
}

const fieldIndexes = new WeakMap<StructDef, Map<string, FieldDef>>();

/** Field name (and alias) -> field of a struct, built once per struct definition. */
function fieldIndex(def: StructDef): Map<string, FieldDef> {
  const known = fieldIndexes.get(def);
  if (known !== undefined) return known;
  const map = new Map<string, FieldDef>();
  fieldIndexes.set(def, map);
  for (const f of def.fields) {
    map.set(f.name, f);
    for (const a of f.aliases ?? []) map.set(a, f);
  }
  return map;
}

function toBigInt(v: bigint | number, path: string): bigint {
  if (typeof v === "bigint") return v;
  if (!Number.isSafeInteger(v)) throw new CodecError(`${path}: ${v} is not a safe integer; pass a bigint`);
  return BigInt(v);
}

/** Bounds of each scalar type: the signed minimum and the unsigned maximum (a value may be given either way). */
const BOUNDS = Object.fromEntries(
  (Object.keys(SCALAR_BYTES) as ScalarType[]).map((t) => {
    const bits = SCALAR_BYTES[t] * 8;
    return [t, { bits, min: -(1n << BigInt(bits - 1)), max: (1n << BigInt(bits)) - 1n }];
  }),
) as Record<ScalarType, { bits: number; min: bigint; max: bigint }>;

/** Eight bytes a value is written into (little-endian, modulo 2^64) before its low bytes are copied out. */
const scratch = new DataView(new ArrayBuffer(8));
const scratchBytes = new Uint8Array(scratch.buffer);

export function writeScalar(buf: Uint8Array, at: number, type: ScalarType, value: bigint, path: string = type): void {
  const { bits, min, max } = BOUNDS[type];
  if (value < min || value > max) throw new CodecError(`${path}: ${value} does not fit in ${type}`);
  scratch.setBigUint64(0, value, true);
  for (let i = 0; i < bits / 8; i++) buf[at + i] = scratchBytes[i]!;
}

function readU32(buf: Uint8Array, at: number, bytes: number): number {
  let n = 0;
  for (let i = bytes - 1; i >= 0; i--) n = n * 256 + buf[at + i]!;
  return n;
}

export function readScalar(buf: Uint8Array, at: number, type: ScalarType): bigint {
  const bits = BOUNDS[type].bits;
  const v = bits <= 32 ? BigInt(readU32(buf, at, bits / 8)) : (BigInt(readU32(buf, at + 4, 4)) << 32n) | BigInt(readU32(buf, at, 4));
  return type.charCodeAt(0) === 115 /* s */ ? BigInt.asIntN(bits, v) : v;
}

/** Structural checks the schema cannot express: fields inside the struct, no overlaps outside unions, prefixes identical. */
export function layoutProblems(structs: ReadonlyMap<string, StructDef>): { struct: string; field?: string; problem: string }[] {
  const codec = new StructCodec(structs);
  const problems: { struct: string; field?: string; problem: string }[] = [];
  for (const def of structs.values()) {
    const spans: { f: FieldDef; start: number; end: number }[] = [];
    for (const f of def.fields) {
      let elem: number;
      try {
        elem = codec.sizeOf(f.type);
      } catch {
        problems.push({ struct: def.name, field: f.name, problem: `unknown type ${f.type}` });
        continue;
      }
      if (f.offset % Math.min(elem, 8) !== 0 && isScalar(f.type)) problems.push({ struct: def.name, field: f.name, problem: `offset ${f.offset} is not aligned to ${elem}` });
      const end = f.offset + elem * (f.count ?? 1);
      if (end > def.size) problems.push({ struct: def.name, field: f.name, problem: `ends at byte ${end}, past the struct size ${def.size}` });
      for (const s of spans) {
        const overlap = f.offset < s.end && s.start < end;
        const sameUnion = f.union !== undefined && f.union === s.f.union;
        if (overlap && !sameUnion) problems.push({ struct: def.name, field: f.name, problem: `overlaps field ${s.f.name}` });
      }
      spans.push({ f, start: f.offset, end });
    }
    if (def.prefix !== undefined) {
      const base = structs.get(def.prefix);
      if (!base) problems.push({ struct: def.name, problem: `prefix struct ${def.prefix} is not defined` });
      else
        base.fields.forEach((bf, i) => {
          const f = def.fields[i];
          if (!f || f.offset !== bf.offset || f.type !== bf.type || (f.count ?? 1) !== (bf.count ?? 1))
            problems.push({ struct: def.name, field: bf.name, problem: `does not repeat ${def.prefix}.${bf.name} at offset ${bf.offset}` });
        });
    }
  }
  return problems;
}
