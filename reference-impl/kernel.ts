// The modelled machine: one kernel instance with its processes, VMs, device
// inodes and filesystems. A session's reset replaces the whole instance.
import type { IoctlDef, ProfileName, Spec } from "../spec/index.js";
import { checkSnpInvariants } from "./arch/x86/snp/invariants.js";
import { ReverseMapTable } from "./arch/x86/snp/rmp.js";
import { GunyahRm } from "./arch/arm64/gunyah/rm.js";
import { Pkvm } from "./arch/arm64/pkvm/pkvm.js";
import { hostAtRevision } from "./arch/arm64/vm-type.js";
import { GmemInode } from "./guest_memfd/inode.js";
import { fail } from "./lib/errno.js";
import { FaultInjector } from "./lib/fault-injection.js";
import { invariant } from "./lib/invariants.js";
import { PageGeometry } from "./lib/u64.js";
import type { Folio, FolioOwner } from "./mm/folio.js";
import { CharDeviceInode, NullFile } from "./process/devices.js";
import { AnonInode, ST_NOEXEC, ST_RELATIME, ST_VALID, type Filesystem, type TimeStamp } from "./process/file.js";
import { Process } from "./process/process.js";
import type { HostModel } from "./system/hosts.js";
import type { Revision } from "./system/revision.js";
import { ioctlTable, resolveConstants, resolveRequests, type Constants, type Requests } from "./system/uapi.js";
import type { Vm } from "./vm/vm.js";

/** What stays the same across resets: the spec look-ups of one profile and host. */
export class KernelConfig {
  readonly K: Constants;
  readonly R: Requests;
  readonly ioctls: Map<string, IoctlDef>;
  readonly page: PageGeometry;
  /** the host model as this release sees it (arm64 has guest_memfd from 6.18) */
  readonly host: HostModel;

  constructor(
    readonly spec: Spec,
    readonly profile: ProfileName,
    host: HostModel,
    readonly revision: Revision,
  ) {
    this.host = hostAtRevision(host, revision);
    this.K = resolveConstants(spec, profile);
    this.R = resolveRequests(spec, profile);
    this.ioctls = ioctlTable(spec, profile);
    this.page = new PageGeometry(host.pageSize);
  }
}

const EPOCH_SECONDS = 1_750_000_000n;

export class Kernel {
  readonly K: Constants;
  readonly R: Requests;
  readonly page: PageGeometry;
  readonly host: HostModel;
  readonly revision: Revision;
  readonly inject = new FaultInjector();
  readonly rmp = new ReverseMapTable();
  /** the pKVM hypervisor of a host booted with kvm-arm.mode=protected */
  readonly pkvm: Pkvm | null;
  /** Gunyah's demand paging of guest_memfd memory, on a host whose hypervisor is Gunyah */
  readonly gunyah: GunyahRm | null;
  readonly processes = new Map<bigint, Process>();
  readonly vms = new Set<Vm>();
  readonly fs: Record<"devtmpfs" | "anonInode" | "shmem" | "guestMemfd", Filesystem>;
  /** the one anonymous inode VM and vCPU files share */
  readonly anonInode: AnonInode;
  readonly devKvm: CharDeviceInode;
  readonly devNull: CharDeviceInode;
  /** /dev/sev, made on first open where the host has SEV firmware (arch/x86/sev-snp.ts) */
  devSev: CharDeviceInode | undefined;
  private nextPid = 0n;
  private lastIno = 1000;
  private clock = 0n;

  /** KVM_USER_MEM_SLOTS of the host's architecture */
  get userMemSlots(): number {
    return this.K.userMemSlots[this.host.arch];
  }

  constructor(readonly config: KernelConfig) {
    this.K = config.K;
    this.R = config.R;
    this.page = config.page;
    this.host = config.host;
    this.revision = config.revision;
    this.pkvm = config.host.arm64?.mode === "protected" ? new Pkvm(this) : null;
    this.gunyah = config.host.arm64?.gunyah === true ? new GunyahRm(this) : null;
    this.fs = {
      devtmpfs: { name: "devtmpfs", magic: this.K.tmpfsMagic, statfsFlags: ST_VALID | ST_RELATIME, dev: 5n, noexec: false },
      anonInode: { name: "anon_inodefs", magic: this.K.anonInodeMagic, statfsFlags: ST_VALID, dev: 16n, noexec: true },
      shmem: { name: "shmem", magic: this.K.tmpfsMagic, statfsFlags: ST_VALID, dev: 1n, noexec: false },
      guestMemfd: { name: "guest_memfd", magic: this.K.gmemMagic ?? 0n, statfsFlags: ST_VALID | ST_NOEXEC, dev: 17n, noexec: true },
    };
    this.anonInode = new AnonInode(this, this.fs.anonInode, this.nextIno(), 0o600);
    this.devKvm = new CharDeviceInode(this, "/dev/kvm", 10, 232);
    this.devNull = new CharDeviceInode(this, "/dev/null", 1, 3);
    // The first process starts with descriptors 0-2 open, as a real one does.
    const init = this.spawn();
    for (let fd = 0; fd < 3; fd++) init.files.install(new NullFile(this.devNull, this.K.o.RDWR | this.K.o.LARGEFILE), false);
  }

  /** A new process with no descriptors open (fork gives it its parent's instead). */
  spawn(parent?: Process): Process {
    const pid = this.nextPid++;
    const p = parent ? parent.fork(pid) : Process.create(this, pid);
    this.processes.set(pid, p);
    return p;
  }

  nextIno(): number {
    return ++this.lastIno;
  }

  /** Advance the clock; every operation takes one microsecond of model time. */
  tick(): void {
    this.clock += 1000n;
  }

  now(): TimeStamp {
    return { sec: EPOCH_SECONDS + this.clock / 1_000_000_000n, nsec: this.clock % 1_000_000_000n };
  }

  /** One kernel allocation that may fail (kmalloc, alloc_page). */
  allocate(): void {
    if (this.inject.allocations(1) < 1) fail("ENOMEM");
  }

  /** The guest_memfd inode of a folio, where it belongs to a protected pKVM guest. */
  pkvmInode(folio: Folio): GmemInode | undefined {
    const owner = folio.owner;
    return this.pkvm !== null && owner instanceof GmemInode && this.pkvm.isProtectedInode(owner) ? owner : undefined;
  }

  /** unmap_mapping_range(): host mappings of pages [start, end) of a file go; KVM hears of it through MMU notifiers. */
  unmapMappingRange(owner: FolioOwner, start: number, end: number): void {
    for (const p of this.processes.values()) {
      for (const { value: vma } of p.mm.vmas.all()) {
        if (vma.backing?.owner !== owner) continue;
        const lo = Math.max(start, vma.pgoff);
        const hi = Math.min(end, vma.indexOf(vma.end));
        if (lo < hi) p.mm.notify(vma.start + (lo - vma.pgoff), vma.start + (hi - vma.pgoff));
      }
    }
  }

  /**
   * Per-object invariants, then the two that span objects: no page is both mapped by a
   * process's page tables and mapped private by a VM's stage-2 MMU, and a page is mapped
   * private by one VM at most; then the SEV-SNP hardware's (arch/x86/snp/invariants.ts).
   */
  checkInvariants(): void {
    const hostMapped = new Map<Folio, bigint>();
    for (const p of this.processes.values()) {
      p.files.checkInvariants();
      p.mm.checkInvariants();
      for (const { value: pte } of p.mm.ptes.all()) hostMapped.set(pte.folio, p.pid);
    }
    const privateOwner = new Map<Folio, Vm>();
    for (const vm of this.vms) {
      vm.checkInvariants();
      for (const f of vm.gmemFiles) {
        f.checkInvariants();
        f.inode.checkInvariants();
      }
      for (const { gfn, spte } of vm.mmu.mappings()) {
        if (!spte.isPrivate) continue;
        const where = `VM ${vm.id} gfn ${gfn}`;
        const pid = hostMapped.get(spte.folio);
        invariant(pid === undefined, () => `${where}: private page ${spte.folio.id} is also mapped by process ${pid}'s page tables`);
        const other = privateOwner.get(spte.folio);
        invariant(other === undefined || other === vm, () => `${where}: private page ${spte.folio.id} is also mapped private by VM ${other!.id}`);
        privateOwner.set(spte.folio, vm);
      }
    }
    checkSnpInvariants(this, hostMapped);
    this.pkvm?.checkInvariants(hostMapped);
    this.gunyah?.checkInvariants(hostMapped);
  }
}
