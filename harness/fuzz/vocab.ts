// The fuzzer's vocabulary: abstract steps over fds, guest_memfd, memslots, attributes,
// mappings and guest accesses. A step names earlier objects by index (into the VMs,
// guest_memfds, mappings and vCPUs created so far), never by fd number or address, so the
// same step means the same thing on two drivers whose fds and addresses differ. Which
// kinds are generated depends on the features both drivers have.
import fc from "fast-check";

export type Step =
  | { k: "vm"; type: "default" | "sw_protected" }
  | { k: "gmem"; vm: number; pages: number; flags: "none" | "mmap" | "mmap_shared" | "shared_only" | "bad" }
  | { k: "anon"; pages: number }
  | { k: "mapGmem"; gmem: number; pages: number; shared: boolean }
  | { k: "slot"; vm: number; id: number; gpaPage: number; pages: number; gmem: number | null; gmemOffPage: number; map: number | null; mapPage: number; logDirty: boolean }
  | { k: "falloc"; gmem: number; punch: boolean; keepSize: boolean; offPage: number; lenPages: number; unaligned: boolean }
  | { k: "attr"; vm: number; gpaPage: number; pages: number; private: boolean }
  | { k: "vcpu"; vm: number }
  | { k: "guest"; vcpu: number; write: boolean; gpaPage: number; private: boolean; value: number }
  | { k: "load"; map: number; page: number }
  | { k: "store"; map: number; page: number; value: number }
  | { k: "munmap"; map: number; page: number; pages: number }
  | { k: "madvise"; map: number; page: number; pages: number; advice: "dontneed" | "remove" }
  | { k: "close"; gmem: number }
  | { k: "fstat"; gmem: number };

export type StepKind = Step["k"];

/** Features a step kind needs from both drivers. */
export const NEEDS: Record<StepKind, string[]> = {
  vm: ["kvm", "vm-type:default"],
  gmem: ["guest-memfd"],
  anon: [],
  mapGmem: ["guest-memfd", "gmem-flag:mmap"],
  slot: ["user-memory2"],
  falloc: ["guest-memfd"],
  attr: ["memory-attributes"],
  vcpu: ["kvm"],
  guest: ["guest-run"],
  load: [],
  store: [],
  munmap: [],
  madvise: [],
  close: ["guest-memfd"],
  fstat: ["guest-memfd"],
};

/** The uAPI subjects a step exercises: a divergence on it is explained by a changed clause of one of them. */
export const SUBJECTS: Record<StepKind, string[]> = {
  vm: ["KVM_CREATE_VM"],
  gmem: ["KVM_CREATE_GUEST_MEMFD"],
  anon: ["mmap"],
  mapGmem: ["mmap", "guest_memfd file"],
  slot: ["KVM_SET_USER_MEMORY_REGION2", "KVM_SET_USER_MEMORY_REGION"],
  falloc: ["fallocate"],
  attr: ["KVM_SET_MEMORY_ATTRIBUTES"],
  vcpu: ["KVM_CREATE_VCPU"],
  guest: ["KVM_RUN", "kvm_run.memory_fault"],
  load: ["memory access", "guest_memfd file"],
  store: ["memory access", "guest_memfd file"],
  munmap: ["mmap"],
  madvise: ["madvise"],
  close: ["guest_memfd file"],
  fstat: ["guest_memfd file"],
};

/** Guest physical pages the fuzzer uses: 16 pages from 1 MiB. */
export const GPA_BASE = 0x100000n;
export const GPA_PAGES = 16;

const idx = fc.nat({ max: 3 });
/** true with probability p (mostly valid arguments: errors are cheap to reach, deep states are not) */
const likely = (p: number) => fc.oneof({ arbitrary: fc.constant(true), weight: Math.round(p * 10) }, { arbitrary: fc.constant(false), weight: 10 - Math.round(p * 10) });
const small = (min: number, max: number) => fc.integer({ min, max });

function arbitraryOf(kind: StepKind, hasSwProtected: boolean): fc.Arbitrary<Step> {
  switch (kind) {
    case "vm":
      return fc.record({ k: fc.constant("vm" as const), type: hasSwProtected ? fc.constantFrom("default" as const, "sw_protected" as const) : fc.constant("default" as const) });
    case "gmem":
      return fc.record({ k: fc.constant("gmem" as const), vm: idx, pages: small(1, 4), flags: fc.constantFrom("none" as const, "mmap" as const, "mmap_shared" as const, "mmap_shared" as const, "mmap_shared" as const, "shared_only" as const, "bad" as const) });
    case "anon":
      return fc.record({ k: fc.constant("anon" as const), pages: small(1, 4) });
    case "mapGmem":
      return fc.record({ k: fc.constant("mapGmem" as const), gmem: idx, pages: small(1, 4), shared: likely(0.8) });
    case "slot":
      return fc.record({
        k: fc.constant("slot" as const),
        vm: idx,
        id: small(0, 3),
        gpaPage: small(0, GPA_PAGES - 1),
        pages: small(0, 4),
        gmem: fc.option(idx, { nil: null }),
        gmemOffPage: small(0, 4),
        map: fc.option(idx, { nil: null }),
        mapPage: small(0, 4),
        logDirty: likely(0.2),
      });
    case "falloc":
      return fc.record({ k: fc.constant("falloc" as const), gmem: idx, punch: fc.boolean(), keepSize: likely(0.9), offPage: small(0, 5), lenPages: small(0, 3), unaligned: likely(0.1) });
    case "attr":
      return fc.record({ k: fc.constant("attr" as const), vm: idx, gpaPage: small(0, GPA_PAGES - 1), pages: small(1, 4), private: fc.boolean() });
    case "vcpu":
      return fc.record({ k: fc.constant("vcpu" as const), vm: idx });
    case "guest":
      return fc.record({ k: fc.constant("guest" as const), vcpu: idx, write: fc.boolean(), gpaPage: small(0, GPA_PAGES - 1), private: fc.boolean(), value: fc.integer({ min: 1, max: 255 }) });
    case "load":
      return fc.record({ k: fc.constant("load" as const), map: idx, page: small(0, 3) });
    case "store":
      return fc.record({ k: fc.constant("store" as const), map: idx, page: small(0, 3), value: fc.integer({ min: 1, max: 255 }) });
    case "munmap":
      return fc.record({ k: fc.constant("munmap" as const), map: idx, page: small(0, 3), pages: small(1, 2) });
    case "madvise":
      return fc.record({ k: fc.constant("madvise" as const), map: idx, page: small(0, 3), pages: small(1, 2), advice: fc.constantFrom("dontneed" as const, "remove" as const) });
    case "close":
      return fc.record({ k: fc.constant("close" as const), gmem: idx });
    case "fstat":
      return fc.record({ k: fc.constant("fstat" as const), gmem: idx });
  }
}

/** Weights: creation steps are rarer than the steps that use what was created. */
const WEIGHT: Record<StepKind, number> = { vm: 1, gmem: 2, anon: 1, mapGmem: 2, slot: 4, falloc: 4, attr: 3, vcpu: 1, guest: 6, load: 4, store: 4, munmap: 1, madvise: 1, close: 1, fstat: 1 };

/** Kinds both drivers can run, given the intersection of their features. */
export function usableKinds(features: Set<string>): StepKind[] {
  return (Object.keys(NEEDS) as StepKind[]).filter((k) => NEEDS[k].every((f) => features.has(f)));
}

export function stepArbitrary(kinds: StepKind[], features: Set<string>): fc.Arbitrary<Step> {
  const hasSw = features.has("vm-type:sw-protected");
  return fc.oneof(...kinds.map((k) => ({ arbitrary: arbitraryOf(k, hasSw), weight: WEIGHT[k] })));
}

/** A sequence always starts with a VM, so the steps after it have something to name. */
export function sequenceArbitrary(kinds: StepKind[], features: Set<string>, maxLength: number): fc.Arbitrary<Step[]> {
  return fc.array(stepArbitrary(kinds, features), { minLength: 1, maxLength, size: "max" }).map((steps) => [{ k: "vm", type: "default" } as Step, ...steps]);
}
