import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { RealmVmType } from "../../reference-impl/arch/arm64/cca/vm-type.js";
import { mutatedCopy } from "../mutants/copy.js";
import { PAGE, Session } from "./session.js";
import { GPA, populatedRealm } from "./cca-realm.js";

describe("reference-impl Arm CCA realms (cca-v14)", () => {
  it("offers realms and the RSI actions only on an RME host at a profile with the series", () => {
    const f = new Session("cca-v14", "arm64-cca").k.handshake.features;
    expect(f).to.include.members(["vm-type:arm-realm", "guest-arch:cca:ipa-state-set", "guest-arch:cca:ipa-state-get", "memory-attributes"]);
    expect(new Session("cca-v14", "arm64").k.handshake.features).to.not.include("vm-type:arm-realm");
    expect(new Session("linux-7.2", "arm64-cca").k.handshake.features).to.not.include("vm-type:arm-realm");
  });

  it("keeps the populated page as the realm's DATA granule at its IPA, and gives it back zeroed when it is made shared", () => {
    const { s, vm, realm, realmVm } = populatedRealm();
    const gfn = Number(GPA / PAGE);
    const folio = realm.entry(gfn).data!;
    expect(realm.granules.state(folio.id)).to.include({ kind: "DATA", realm: realm.id, gfn });
    expect(realm.entry(gfn).ripas).to.equal("RAM");
    expect(realm.entry(gfn + 1)).to.deep.equal({ ripas: "RAM" });
    s.ok("ioctl", { fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: GPA, size: PAGE, attributes: 0n } });
    expect(realm.granules.kindOf(folio.id)).to.equal("UNDELEGATED");
    expect(realm.entry(gfn).ripas).to.equal("DESTROYED");
    expect(folio.read(0, 8)).to.deep.equal(new Uint8Array(8));
    realmVm.checkInvariants();
  });

  it("catches a DATA granule the RTT does not map, a dirty DELEGATED granule, and a host mapping of a realm granule", () => {
    const broken = [
      (r: ReturnType<typeof populatedRealm>) => {
        const folio = r.realm.entry(Number(GPA / PAGE)).data!;
        r.realm.granules.dataDestroyed(folio);
        r.realm.granules.undelegate(folio);
      },
      (r: ReturnType<typeof populatedRealm>) => {
        // A page the realm gave back (made shared), delegated again, then written by the host.
        const folio = r.realm.entry(Number(GPA / PAGE)).data!;
        r.s.ok("ioctl", { fd: r.vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: GPA, size: PAGE, attributes: 0n } });
        r.realm.granules.delegate(folio);
        folio.write(0, new Uint8Array([1]));
      },
      (r: ReturnType<typeof populatedRealm>) => {
        const folio = r.realm.entry(Number(GPA / PAGE)).data!;
        const page = Number(r.s.anon(1n) / PAGE);
        r.s.k.machine.processes.get(0n)!.mm.ptes.set(page, page + 1, { folio, writable: true });
      },
    ];
    const messages = [/maps granule .* which is (UNDELEGATED|DELEGATED)/, /DELEGATED but not zero/, /maps a DATA granule/];
    broken.forEach((breakIt, i) => {
      const r = populatedRealm();
      r.s.k.machine.checkInvariants();
      breakIt(r);
      // The realm model's own checks (the machine's generic ones may notice some breakage first).
      expect(() => (r.realmVm.type as RealmVmType).checkInvariants(r.realmVm)).to.throw(messages[i]!);
    });
  });

  it("makes --check-invariants fire on a model whose populate maps a granule it never made DATA", function () {
    this.timeout(60000);
    // RMI_RTT_DATA_MAP_INIT that maps the page without turning the delegated granule into
    // DATA: the realm still reads its image, so no case sees it; the invariant check does.
    const dir = mutatedCopy("arch/arm64/cca/realm.js", "this.granules.toData(folio, this.id, gfn);\n        folio.write(0, contents);", "folio.write(0, contents);");
    try {
      const args = ["dist/harness/cli/main.js", "run", "--driver", "reference", "--host", "arm64-cca", "--profile", "cca-v14", "--filter", "hw:cca:populate:populate:*"];
      const plain = spawnSync("node", args, { cwd: dir, encoding: "utf8" });
      const checked = spawnSync("node", [...args, "--check-invariants"], { cwd: dir, encoding: "utf8" });
      expect(checked.status, checked.stdout).to.equal(1);
      expect(checked.stdout).to.match(/invariant violated|maps granule \d+, which is DELEGATED/);
      expect(plain.status, plain.stdout).to.equal(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
