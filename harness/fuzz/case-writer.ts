// A shrunk counterexample as a JSON suite (suites/README.md): the steps with bindings
// ($v0, $g0, $m0, $c0) instead of fds and addresses, and driver A's results as the
// expectations, so the file runs against any driver as it is. The clauses are those of
// the diverging step's subjects the reviewer should check; the control is a case of the
// same family that succeeds.
import type { Outcome } from "./exec.js";
import { GPA_BASE, GPA_PAGES, type Step } from "./vocab.js";

type Json = { [k: string]: unknown };

/** A clause and a succeeding control per family of the diverging step (both exist in spec/ and suites/). */
const FAMILY: Record<Step["k"], { clauses: string[]; control: string }> = {
  vm: { clauses: ["VMTYPE-001"], control: "slot2:modify:plain_reissue_identical" },
  gmem: { clauses: ["GMEM-CREATE-001"], control: "slot2:modify:plain_reissue_identical" },
  anon: { clauses: ["SLOT2-046"], control: "slot2:host_change:unchanged" },
  mapGmem: { clauses: ["GMEM-MMAP-003"], control: "gmem:poison_host:reload_without_poison" },
  slot: { clauses: ["SLOT2-013"], control: "slot2:modify:plain_move" },
  falloc: { clauses: ["GMEM-FALLOC-010"], control: "=gmem:fallocate:allocate_in_range:offset=0;len=4*PAGE_SIZE" },
  attr: { clauses: ["ATTR-001"], control: "slot2:modify:plain_reissue_identical" },
  vcpu: { clauses: ["SLOT2-046"], control: "slot2:host_change:unchanged" },
  guest: { clauses: ["SLOT2-046"], control: "slot2:host_change:unchanged" },
  load: { clauses: ["SLOT2-046"], control: "slot2:host_change:unchanged" },
  store: { clauses: ["SLOT2-046"], control: "slot2:host_change:unchanged" },
  munmap: { clauses: ["SLOT2-046"], control: "slot2:host_change:unchanged" },
  madvise: { clauses: ["SLOT2-046"], control: "slot2:host_change:unchanged" },
  close: { clauses: ["GMEM-LIFE-003"], control: "gmem:poison_host:reload_without_poison" },
  fstat: { clauses: ["GMEM-FILE-003"], control: "gmem:poison_host:reload_without_poison" },
};

const REQUIRES: Record<Step["k"], string[]> = {
  vm: ["kvm", "vm-type:default"],
  gmem: ["guest-memfd"],
  anon: [],
  mapGmem: ["guest-memfd"],
  slot: ["user-memory2"],
  falloc: ["guest-memfd"],
  attr: ["memory-attributes"],
  vcpu: [],
  guest: ["guest-run"],
  load: [],
  store: [],
  munmap: [],
  madvise: [],
  close: [],
  fstat: [],
};

function expectOf(o: Outcome): Json {
  const e: Json = {};
  if (o.errno) e.errno = o.errno;
  if (o.signal) e.signal = o.signal;
  if (o.ok && o.ret !== undefined) e.ret = o.ret;
  if (o.exit) e.exit = { reason: o.exit.split(" ")[0] };
  if (o.data) e.data = { hex: o.data };
  return e;
}

/** The suite file for steps (with `outcomes[i]` driver A's outcome of step i, null where it was skipped) diverging at `at`. */
export function counterexampleSuite(opts: { seed: number; a: string; b: string; steps: Step[]; outcomes: (Outcome | null)[]; at: number; why: string; profiles: string[] }): Json {
  const { steps, outcomes } = opts;
  const n = { vms: 0, gmems: 0, maps: 0, vcpus: 0 };
  const gmemPages: number[] = [];
  const mapPages: number[] = [];
  const out: Json[] = [{ op: "open", path: "/dev/kvm", flags: "O_RDWR", as: "kvm" }];
  const requires = new Set<string>(["kvm"]);
  const pick = (count: number, i: number): number | undefined => (count === 0 ? undefined : i % count);
  steps.slice(0, opts.at + 1).forEach((s, i) => {
    const o = outcomes[i];
    if (o === null || o === undefined) return;
    for (const f of REQUIRES[s.k]) requires.add(f);
    const expect = expectOf(o);
    const step = (x: Json): void => void out.push(Object.keys(expect).length > 0 ? { ...x, expect } : x);
    const gpa = (page: number): string => `0x${GPA_BASE.toString(16)}+${page % GPA_PAGES}*PAGE_SIZE`;
    switch (s.k) {
      case "vm":
        step({ op: "ioctl", fd: "$kvm", request: "KVM_CREATE_VM", arg: s.type === "default" ? "KVM_X86_DEFAULT_VM" : "KVM_X86_SW_PROTECTED_VM", ...(o.ok ? { as: `v${n.vms++}` } : {}) });
        if (s.type === "sw_protected") requires.add("vm-type:sw-protected");
        break;
      case "gmem": {
        const vm = pick(n.vms, s.vm)!;
        const flags = { none: "0", mmap: "GUEST_MEMFD_FLAG_MMAP", mmap_shared: "GUEST_MEMFD_FLAG_MMAP|GUEST_MEMFD_FLAG_INIT_SHARED", shared_only: "GUEST_MEMFD_FLAG_INIT_SHARED", bad: "1<<7" }[s.flags];
        step({ op: "ioctl", fd: `$v${vm}`, request: "KVM_CREATE_GUEST_MEMFD", arg: { size: `${s.pages}*PAGE_SIZE`, flags }, ...(o.ok ? { as: `g${n.gmems++}` } : {}) });
        if (o.ok) gmemPages.push(s.pages);
        break;
      }
      case "anon":
      case "mapGmem": {
        const fd = s.k === "anon" ? -1 : `$g${pick(n.gmems, s.gmem)!}`;
        const flags = s.k === "anon" ? "MAP_PRIVATE|MAP_ANONYMOUS" : s.shared ? "MAP_SHARED" : "MAP_PRIVATE";
        const e = { ...expect };
        delete e.ret;
        out.push({ op: "mmap", addr: 0, len: `${s.pages}*PAGE_SIZE`, prot: "PROT_READ|PROT_WRITE", flags, fd, offset: 0, ...(o.ok ? { as: `m${n.maps++}` } : { expect: e }) });
        if (o.ok) mapPages.push(s.pages);
        break;
      }
      case "slot": {
        const vm = pick(n.vms, s.vm)!;
        const g = s.gmem === null ? undefined : pick(n.gmems, s.gmem);
        const m = s.map === null ? undefined : pick(n.maps, s.map);
        const flags = [s.logDirty ? "KVM_MEM_LOG_DIRTY_PAGES" : "", g !== undefined ? "KVM_MEM_GUEST_MEMFD" : ""].filter(Boolean).join("|") || "0";
        const arg: Json = { slot: s.id, flags, guest_phys_addr: gpa(s.gpaPage), memory_size: `${s.pages}*PAGE_SIZE`, userspace_addr: m === undefined ? 0 : `$m${m}+${s.mapPage}*PAGE_SIZE` };
        if (g !== undefined) Object.assign(arg, { guest_memfd_offset: `${s.gmemOffPage}*PAGE_SIZE`, guest_memfd: `$g${g}` });
        step({ op: "ioctl", fd: `$v${vm}`, request: "KVM_SET_USER_MEMORY_REGION2", arg });
        break;
      }
      case "falloc": {
        const mode = [s.keepSize ? "FALLOC_FL_KEEP_SIZE" : "", s.punch ? "FALLOC_FL_PUNCH_HOLE" : ""].filter(Boolean).join("|") || "0";
        step({ op: "fallocate", fd: `$g${pick(n.gmems, s.gmem)!}`, mode, offset: `${s.offPage}*PAGE_SIZE${s.unaligned ? "+1" : ""}`, len: `${s.lenPages}*PAGE_SIZE` });
        break;
      }
      case "attr":
        step({ op: "ioctl", fd: `$v${pick(n.vms, s.vm)!}`, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: gpa(s.gpaPage), size: `${s.pages}*PAGE_SIZE`, attributes: s.private ? "KVM_MEMORY_ATTRIBUTE_PRIVATE" : 0, flags: 0 } });
        break;
      case "vcpu": {
        const e = { ...expect };
        delete e.ret;
        out.push({ op: "ioctl", fd: `$v${pick(n.vms, s.vm)!}`, request: "KVM_CREATE_VCPU", arg: n.vcpus, ...(o.ok ? { as: `c${n.vcpus++}` } : { expect: e }) });
        break;
      }
      case "guest": {
        const base = { op: "guest", vcpu: `$c${pick(n.vcpus, s.vcpu)!}`, gpa: `${gpa(s.gpaPage)}+8`, len: 8, private: s.private };
        step(s.write ? { ...base, access: "write", data: { fill: `0x${s.value.toString(16)}`, len: 8 } } : { ...base, access: "read" });
        break;
      }
      case "load":
      case "store": {
        const m = pick(n.maps, s.map)!;
        const addr = `$m${m}+${s.page % mapPages[m]!}*PAGE_SIZE+16`;
        step(s.k === "load" ? { op: "load", addr, len: 8 } : { op: "store", addr, data: { fill: `0x${s.value.toString(16)}`, len: 8 } });
        break;
      }
      case "munmap":
      case "madvise": {
        const m = pick(n.maps, s.map)!;
        const addr = `$m${m}+${s.page % mapPages[m]!}*PAGE_SIZE`;
        step(s.k === "munmap" ? { op: "munmap", addr, len: `${s.pages}*PAGE_SIZE` } : { op: "madvise", addr, len: `${s.pages}*PAGE_SIZE`, advice: s.advice === "dontneed" ? "MADV_DONTNEED" : "MADV_REMOVE" });
        break;
      }
      case "close":
      case "fstat":
        step({ op: s.k, fd: `$g${pick(n.gmems, s.gmem)!}` });
        break;
    }
  });
  const family = FAMILY[steps[opts.at]!.k];
  const name = `seed_${opts.seed}`;
  const short = (d: string): string => (d.startsWith("remote:") ? "remote" : d.replace(/[^a-z0-9]+/gi, "_").toLowerCase());
  return {
    $schema: "../../spec/schema/suite.schema.json",
    suite: `fuzz:${short(opts.a)}_vs_${short(opts.b)}`,
    title: "a shrunk counterexample of privmem-cts fuzz",
    description: `privmem-cts fuzz --a ${opts.a} --b ${opts.b} --seed ${opts.seed}: the last step diverged (${opts.why}). The expectations are driver A's results; review the clauses and the control before committing.`,
    cases: [{ name, title: `fuzz seed ${opts.seed}: ${opts.why}`.slice(0, 200), clauses: family.clauses, requires: [...requires].sort(), profiles: opts.profiles.join(","), control: family.control, steps: out }],
  };
}
