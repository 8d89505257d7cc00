// uAPI the driver needs for its own guest set-up that spec/ does not describe yet:
// the CPUID ioctls and their structs (x86 guests need CPUID for MAXPHYADDR above
// 36 bits). They belong in spec/constants.json and spec/layouts.json; until they
// are there, they are described here in the same form and encoded with the same
// codec. When spec/ defines them, the spec's definitions win.
import type { Spec, ProfileName } from "../../../spec/index.js";
import { ioc } from "../../../spec/ioc.js";
import { StructCodec, type StructDef } from "../../../spec/codec.js";

const LOCAL_STRUCTS: StructDef[] = [
  {
    name: "kvm_cpuid2",
    size: 8,
    profiles: "upm-v9+",
    note: "header of a flexible array of kvm_cpuid_entry2 (include/uapi/linux/kvm.h)",
    fields: [
      { name: "nent", offset: 0, type: "u32" },
      { name: "padding", offset: 4, type: "u32" },
    ],
  },
  {
    name: "kvm_cpuid_entry2",
    size: 40,
    profiles: "upm-v9+",
    fields: [
      { name: "function", offset: 0, type: "u32" },
      { name: "index", offset: 4, type: "u32" },
      { name: "flags", offset: 8, type: "u32" },
      { name: "eax", offset: 12, type: "u32" },
      { name: "ebx", offset: 16, type: "u32" },
      { name: "ecx", offset: 20, type: "u32" },
      { name: "edx", offset: 24, type: "u32" },
      { name: "padding", offset: 28, type: "u32", count: 3 },
    ],
  },
];

const LOCAL_IOCTLS: Record<string, { dir: "readwrite" | "write"; nr: number; arg: string }> = {
  KVM_GET_SUPPORTED_CPUID: { dir: "readwrite", nr: 0x05, arg: "kvm_cpuid2" },
  KVM_SET_CPUID2: { dir: "write", nr: 0x90, arg: "kvm_cpuid2" },
};

export interface ExtraUapi {
  codec: StructCodec;
  request(name: keyof typeof LOCAL_IOCTLS): number;
}

export function extraUapi(spec: Spec, profile: ProfileName): ExtraUapi {
  const structs = new Map<string, StructDef>(LOCAL_STRUCTS.map((s) => [s.name, s]));
  for (const s of LOCAL_STRUCTS) if (spec.structs.has(s.name)) structs.set(s.name, spec.structs.get(s.name)!);
  const codec = new StructCodec(structs);
  return {
    codec,
    request(name) {
      const fromSpec = spec.ioctl(name, profile);
      if (fromSpec) return fromSpec.request;
      const d = LOCAL_IOCTLS[name]!;
      return ioc(d.dir, 0xae, d.nr, codec.get(d.arg).size);
    },
  };
}
