// The Arm CCA model's own guards on a broken model: the RMM refuses an RMI command on a
// granule or an RTT entry in the wrong state (RMI_ERROR_INPUT; TF-RMM granule_types.h, RMM
// spec DEN0137 B4.3), and GranuleTable.checkInvariants and Realm.checkInvariants fire, with
// their messages, on each state they rule out. The mutation runner runs this file, so a
// mutant that makes a guard or a check too lax is killed (mutation/README.md, arch/arm64/cca).
import { expect } from "chai";
import sinon from "sinon";
import { GranuleTable, RmiError } from "../../reference-impl/arch/arm64/cca/granules.js";
import { Realm } from "../../reference-impl/arch/arm64/cca/realm.js";
import { RealmVmType } from "../../reference-impl/arch/arm64/cca/vm-type.js";
import type { Vm } from "../../reference-impl/vm/vm.js";
import { Spte } from "../../reference-impl/vm/mmu.js";
import { Folio, type FolioOwner } from "../../reference-impl/mm/folio.js";
import { InvariantViolation } from "../../reference-impl/lib/invariants.js";
import { PAGE, Session } from "./session.js";
import { GPA, populatedRealm } from "./cca-realm.js";

const page = () => new Folio({ kind: "guest_memfd", ino: 1 } as FolioOwner, 0, Number(PAGE));
const REALM = 7;

describe("Arm CCA granule table on a broken model", () => {
  it("walks a guest_memfd page UNDELEGATED -> DELEGATED -> DATA -> DELEGATED -> UNDELEGATED, scrubbing it at each step into the Realm PAS and out", () => {
    const t = new GranuleTable();
    const f = page();
    f.write(0, new Uint8Array([0xaa]));
    expect(t.kindOf(f.id)).to.equal("UNDELEGATED");
    t.delegate(f);
    expect(t.kindOf(f.id)).to.equal("DELEGATED");
    expect(f.read(0, 1)).to.deep.equal(new Uint8Array(1));
    t.checkInvariants();
    t.toData(f, REALM, 5);
    expect(t.state(f.id)).to.deep.equal({ kind: "DATA", realm: REALM, gfn: 5, folio: f });
    // A DATA granule holds the realm's data: only a DELEGATED one must be zero.
    f.write(0, new Uint8Array([0xbb]));
    t.checkInvariants();
    t.dataDestroyed(f);
    expect(t.kindOf(f.id)).to.equal("DELEGATED");
    expect(f.read(0, 1)).to.deep.equal(new Uint8Array(1));
    t.checkInvariants();
    t.undelegate(f);
    expect(t.kindOf(f.id)).to.equal("UNDELEGATED");
    expect(t.all()).to.deep.equal([]);
  });

  it("refuses each command on a granule in the wrong state, naming the command and the state", () => {
    const t = new GranuleTable();
    const f = page();
    const refused = (cmd: () => void, what: RegExp) => expect(cmd).to.throw(RmiError, what);
    refused(() => t.undelegate(f), /^RMI_GRANULE_UNDELEGATE refused for granule \d+ in state UNDELEGATED$/);
    refused(() => t.toData(f, REALM, 5), /^RMI_RTT_DATA_MAP refused .* in state UNDELEGATED$/);
    refused(() => t.dataDestroyed(f), /^RMI_RTT_DATA_UNMAP refused .* in state UNDELEGATED$/);
    t.delegate(f);
    refused(() => t.delegate(f), /^RMI_GRANULE_DELEGATE refused .* in state DELEGATED$/);
    refused(() => t.dataDestroyed(f), /^RMI_RTT_DATA_UNMAP refused .* in state DELEGATED$/);
    t.toData(f, REALM, 5);
    refused(() => t.undelegate(f), /^RMI_GRANULE_UNDELEGATE refused .* in state DATA$/);
    refused(() => t.toData(f, REALM, 6), /^RMI_RTT_DATA_MAP refused .* in state DATA$/);
    refused(() => t.delegate(f), /in state DATA$/);
    // Nothing refused changed the granule.
    expect(t.state(f.id)).to.deep.equal({ kind: "DATA", realm: REALM, gfn: 5, folio: f });
  });

  it("gives RD and REC granules frames of their own that no folio has, and takes them back", () => {
    const t = new GranuleTable();
    const rd = t.createMeta("RD", REALM);
    const rec = t.createMeta("REC", REALM);
    expect(rd).to.be.below(0);
    expect(rec).to.be.below(rd);
    expect(t.state(rd)).to.deep.equal({ kind: "RD", realm: REALM });
    expect(t.state(rec)).to.deep.equal({ kind: "REC", realm: REALM });
    expect(t.all().map((g) => g.pfn)).to.have.members([rd, rec]);
    t.destroyMeta(rd);
    expect(t.kindOf(rd)).to.equal("UNDELEGATED");
    expect(t.kindOf(rec)).to.equal("REC");
  });

  it("checkInvariants fires on a DATA granule without its realm or its IPA", () => {
    for (const broken of [{ gfn: 5 }, { realm: REALM }]) {
      const t = new GranuleTable();
      const f = page();
      t.delegate(f);
      t.toData(f, REALM, 5);
      Object.assign(t.state(f.id)!, { realm: undefined, gfn: undefined }, broken);
      expect(() => t.checkInvariants()).to.throw(InvariantViolation, `granule ${f.id}: DATA without its realm and IPA`);
    }
  });

  it("checkInvariants fires on a DELEGATED granule that is not all zeroes, at any byte", () => {
    for (const at of [0, Number(PAGE) - 1]) {
      const t = new GranuleTable();
      const f = page();
      t.delegate(f);
      t.createMeta("RD", REALM);
      t.checkInvariants();
      f.write(at, new Uint8Array([1]));
      expect(() => t.checkInvariants()).to.throw(InvariantViolation, `granule ${f.id}: DELEGATED but not zero`);
    }
  });
});

/** A realm of its own machine (its own granule table), 16 protected gfns, with a DATA granule at gfn 3. */
function realmWithData() {
  const realm = new Realm({}, 16);
  expect(realm.ensureCreated()).to.equal("ok");
  const f = page();
  realm.granules.delegate(f);
  realm.dataMap(3, f);
  realm.checkInvariants();
  return { realm, f };
}

describe("Arm CCA realm (RD and RTT) on a broken model", () => {
  it("realm_ensure_created() makes one RD: NEW again is ok with the same RD, ACTIVE is EBUSY, DEAD is ENXIO", () => {
    const realm = new Realm({}, 16);
    expect(realm.rd).to.equal(null);
    expect(realm.ensureCreated()).to.equal("ok");
    const rd = realm.rd!;
    expect(realm.granules.state(rd)).to.deep.equal({ kind: "RD", realm: realm.id });
    expect([realm.state, realm.ensureCreated(), realm.rd]).to.deep.equal(["NEW", "ok", rd]);
    expect(realm.granules.all()).to.have.length(1);
    realm.state = "ACTIVE";
    expect(realm.ensureCreated()).to.equal("EBUSY");
    realm.state = "DEAD";
    expect(realm.ensureCreated()).to.equal("ENXIO");
    expect(realm.granules.all()).to.have.length(1);
  });

  it("RMI_RTT_INIT_RIPAS runs only while the realm is NEW", () => {
    const realm = new Realm({}, 16);
    expect(() => realm.initRipas(0, 4)).to.throw(InvariantViolation, `realm ${realm.id}: RTT_INIT_RIPAS while NONE`);
    realm.ensureCreated();
    realm.initRipas(0, 4);
    expect(realm.entry(3).ripas).to.equal("RAM");
  });

  it("RMI_RTT_DATA_MAP_INIT needs a NEW realm and an UNASSIGNED entry; RMI_RTT_DATA_MAP an UNASSIGNED entry", () => {
    const none = new Realm({}, 16);
    const f = page();
    none.granules.delegate(f);
    expect(() => none.dataMapInit(2, f, new Uint8Array(8))).to.throw(RmiError, `RMI_RTT_DATA_MAP_INIT refused for granule ${f.id} in state realm NONE`);
    const { realm, f: mapped } = realmWithData();
    const g = page();
    realm.granules.delegate(g);
    expect(() => realm.dataMapInit(3, g, new Uint8Array(8))).to.throw(RmiError, `RMI_RTT_DATA_MAP_INIT refused for granule ${g.id} in state entry ASSIGNED`);
    expect(() => realm.dataMap(3, g)).to.throw(RmiError, `RMI_RTT_DATA_MAP refused for granule ${g.id} in state entry ASSIGNED`);
    // Nothing refused changed the entry or the granule.
    expect(realm.entry(3).data).to.equal(mapped);
    expect(realm.granules.kindOf(g.id)).to.equal("DELEGATED");
  });

  it("checkInvariants fires on an RTT entry past the protected IPA space, not on one at its last gfn", () => {
    const { realm } = realmWithData();
    realm.rtt.set(15, 16, { ripas: "RAM" });
    realm.checkInvariants();
    realm.rtt.set(16, 17, { ripas: "RAM" });
    expect(() => realm.checkInvariants()).to.throw(InvariantViolation, `realm ${realm.id}: RTT entry at gfn 16 above the protected IPA space`);
  });

  it("checkInvariants fires on an ASSIGNED entry of a realm that was never created", () => {
    const { realm } = realmWithData();
    realm.state = "NONE";
    expect(() => realm.checkInvariants()).to.throw(InvariantViolation, `realm ${realm.id}: gfn 3 ASSIGNED before the realm was created`);
  });

  it("checkInvariants fires on an entry whose granule is not DATA of this realm at that IPA", () => {
    const breaks: [string, (r: Realm, f: Folio) => void][] = [
      ["UNDELEGATED (realm undefined, gfn undefined)", (r, f) => (r.granules.dataDestroyed(f), r.granules.undelegate(f))],
      ["DELEGATED (realm undefined, gfn undefined)", (r, f) => r.granules.dataDestroyed(f)],
      [`DATA (realm 9999, gfn 3)`, (r, f) => (r.granules.state(f.id)!.realm = 9999)],
      [`DATA (realm {id}, gfn 4)`, (r, f) => (r.granules.state(f.id)!.gfn = 4)],
    ];
    for (const [what, breakIt] of breaks) {
      const { realm, f } = realmWithData();
      breakIt(realm, f);
      const want = `realm ${realm.id}: gfn 3 maps granule ${f.id}, which is ${what.replace("{id}", String(realm.id))}`;
      expect(() => realm.checkInvariants()).to.throw(InvariantViolation, want);
    }
  });
});

describe("Arm CCA realm teardown", () => {
  it("kvm_destroy_realm() gives every granule back: DATA pages, the RD and each vCPU's REC leave the Realm PAS", () => {
    const s = new Session("cca-v14", "arm64-cca");
    const GPA = 0x10000000n;
    const vm = s.ioctl(s.kvm(), "KVM_CREATE_VM", s.c("KVM_VM_TYPE_ARM_REALM")).ret;
    const vcpus = [s.vcpu(vm, 0n), s.vcpu(vm, 1n)];
    const g = s.gmem(vm, 4n * PAGE);
    s.slot(vm, { slot: 1n, flags: s.c("KVM_MEM_GUEST_MEMFD"), guest_phys_addr: GPA, memory_size: 4n * PAGE, userspace_addr: s.anon(4n), guest_memfd_offset: 0n, guest_memfd: g });
    s.ok("ioctl", { fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: GPA, size: 4n * PAGE, attributes: s.c("KVM_MEMORY_ATTRIBUTE_PRIVATE") } });
    const src = s.anon(2n);
    s.ok("store", { addr: src, data: new Uint8Array(8).fill(0xd0) });
    s.ok("ioctl", { fd: vm, request: "KVM_ARM_RMI_POPULATE", arg: { base: GPA, size: 2n * PAGE, source_uaddr: src, flags: 0n, reserved: 0n } });
    // The first run activates the realm (RECs); the access at page 3 maps a third DATA granule.
    s.ok("guest", { vcpu: vcpus[0]!, access: "write", gpa: GPA + 3n * PAGE, len: 8n, private: true, data: new Uint8Array(8).fill(0x5a) });
    const realmVm = [...s.k.machine.vms].find((v) => v.type instanceof RealmVmType) as Vm;
    const realm = (realmVm.type as RealmVmType).realm;
    const kinds = realm.granules.all().map((x) => x.granule.kind).sort();
    expect(kinds).to.deep.equal(["DATA", "DATA", "DATA", "RD", "REC", "REC"]);
    for (const fd of [...vcpus, g, vm]) s.ok("close", { fd });
    expect(realm.state).to.equal("DEAD");
    expect(realm.granules.all()).to.deep.equal([]);
    expect([realm.rtt.size, realm.recs.size, realm.rd]).to.deep.equal([0, 0, null]);
  });
});

/** populatedRealm() (cca-realm.ts) with the handles these tests break. */
function populatedRealmVm() {
  const { s, vcpu, realm, realmVm } = populatedRealm();
  const type = realmVm.type as RealmVmType;
  const gfn = Number(GPA / PAGE);
  const folio = realm.entry(gfn).data!;
  expect(() => type.checkInvariants(realmVm)).to.not.throw();
  return { s, vcpu, gpa: GPA, vm: realmVm, type, realm, gfn, folio, fires: (msg: string) => expect(() => type.checkInvariants(realmVm)).to.throw(InvariantViolation, `realm ${realm.id}: ${msg}`) };
}

describe("Arm CCA realm VM invariants (KVM's stage 2 against the RTT) on a broken model", () => {
  afterEach(() => sinon.restore());

  it("fires on a shared mapping of a realm granule", () => {
    const r = populatedRealmVm();
    r.vm.mmu.map(0, r.gfn + 1, new Spte(r.folio, true, false), r.vm.mmu.invalidateSeq);
    r.fires(`shared mapping of gfn ${r.gfn + 1} points at a DATA granule`);
  });

  it("fires on a private mapping whose RTT entry is gone, and on one the RTT maps to another page", () => {
    const r = populatedRealmVm();
    r.realm.rtt.delete(r.gfn, r.gfn + 1);
    r.fires(`private mapping of gfn ${r.gfn} without its RTT entry`);
    const q = populatedRealmVm();
    const other = page();
    q.realm.granules.delegate(other);
    q.realm.granules.toData(other, q.realm.id, q.gfn + 1);
    q.realm.rtt.set(q.gfn + 1, q.gfn + 2, { ripas: "RAM", data: other });
    q.vm.mmu.map(0, q.gfn + 1, new Spte(q.folio, true, true), q.vm.mmu.invalidateSeq);
    q.fires(`private mapping of gfn ${q.gfn + 1} without its RTT entry`);
  });

  it("fires on an ASSIGNED gfn whose attribute is shared", () => {
    const r = populatedRealmVm();
    sinon.stub(r.vm, "isPrivate").returns(false);
    r.fires(`gfn ${r.gfn} is ASSIGNED but its attribute is shared`);
  });

  it("fires on RTT entries KVM does not map, naming each gfn", () => {
    const r = populatedRealmVm();
    r.s.ok("guest", { vcpu: r.vcpu, access: "read", gpa: r.gpa + PAGE, len: 8n, private: true });
    sinon.stub(r.vm.mmu, "mappings").returns([]);
    r.fires(`RTT entries without KVM's mapping at gfns ${r.gfn}, ${r.gfn + 1}`);
  });

  it("KVM's unmap of a private mapping finds its page a DATA granule of this realm, else the model is broken", () => {
    const r = populatedRealmVm();
    const stray = page();
    expect(() => r.type.privatePageUnmapped(stray)).to.throw(InvariantViolation, `realm ${r.realm.id}: a private mapping of granule ${stray.id} that is UNDELEGATED`);
    const foreign = page();
    r.realm.granules.delegate(foreign);
    r.realm.granules.toData(foreign, r.realm.id + 1000, r.gfn + 1);
    expect(() => r.type.privatePageUnmapped(foreign)).to.throw(InvariantViolation, `realm ${r.realm.id}: a private mapping of granule ${foreign.id} that is DATA`);
    // The realm's own page: unmapped (RIPAS DESTROYED) and given back to the host.
    r.type.privatePageUnmapped(r.folio);
    expect([r.realm.entry(r.gfn).ripas, r.realm.granules.kindOf(r.folio.id)]).to.deep.equal(["DESTROYED", "UNDELEGATED"]);
  });

  it("fires on a process that maps a realm granule", () => {
    const r = populatedRealmVm();
    const va = Number(r.s.anon(1n) / PAGE);
    const proc = [...r.vm.kernel.processes.values()][0]!;
    proc.mm.ptes.set(va, va + 1, { folio: r.folio, writable: true });
    expect(() => r.type.checkInvariants(r.vm)).to.throw(InvariantViolation, `process ${proc.pid}: page ${va} maps a DATA granule`);
  });
});
