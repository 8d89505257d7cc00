// Run by the mutant test in a child process, from a patched copy of the project:
// every suite against the reference on four configurations (three x86: two TDP hosts and a
// shadow-MMU host, one s390), the conversion suites on conv-v7 and conv-v8 with per-VM attributes
// off, the poisoned-page suites on poison-rfc-v2, the pre-merge series' suites, and the arm64
// and pKVM suites on the arm64 and arm64-pkvm hosts; with linux-6.8 (guest_memfd only for VMs with
// private memory) and the VM-type suites on the in-place and UPM v9 configurations.
// Prints one JSON line:
// the ids of the cases that did not pass or skip. With --first-failure it stops at
// the first such case (a mutant needs only one to be shown killed). With --exit-code the
// process exits 1 when a case failed (StrykerJS's command runner reads the exit status:
// stryker.config.json).
import { writeSync } from "node:fs";
import { loadSpec } from "../../spec/index.js";
import { SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../../harness/case/load.js";
import { driverChoice } from "../../harness/drivers/index.js";
import { Expectations } from "../../harness/runner/expectations.js";
import { run } from "../../harness/runner/runner.js";

const firstFailure = process.argv.includes("--first-failure");
// --first <profile>@<host> <case id>: run that case first (the case that killed the mutant last
// time: test/mutants/kills.json); if it passes, every case runs as usual.
const firstAt = process.argv.indexOf("--first");
const first = firstAt < 0 ? undefined : { config: process.argv[firstAt + 1]!, id: process.argv[firstAt + 2]! };
const exitCode = process.argv.includes("--exit-code");
// --check-invariants: check the model's invariants after every operation, so a mutant that makes
// an invariant too strict fails the suites (mutation/README.md, vm.ts).
const checkInvariants = process.argv.includes("--check-invariants");
const report = (failed: string[]) => {
  writeSync(1, JSON.stringify({ failed }) + "\n");
  if (exitCode && failed.length > 0) process.exit(1);
};

const spec = loadSpec();
const { cases, files } = await loadSuites(spec, [SUITES_DIR]);
const failed: string[] = [];
// conv-v7 on full-inplace (kvm.vm_memory_attributes=0) runs the conversion suites only: other suites assume per-VM attributes.
const configs: { profile: "linux-7.2" | "linux-6.18" | "linux-6.8" | "conv-v7" | "conv-v8" | "poison-rfc-v2" | "upm-v9" | "upm-v10" | "rfc-v11" | "cca-v14"; host: string; filters?: string[] }[] = [
  // First: its 14 cases cost little, and its mutants need not wait for the whole matrix.
  { profile: "poison-rfc-v2", host: "full", filters: ["poison:*"] },
  { profile: "linux-7.2", host: "full" },
  { profile: "linux-6.18", host: "full" },
  { profile: "linux-6.18", host: "pvm" },
  { profile: "linux-7.2", host: "s390" },
  // vmtype:* too: what KVM_CHECK_EXTENSION answers per VM type with per-VM attributes off; on conv-v7
  // the SNP guest under in-place conversion (its private accesses are what kvm_mem_is_private() decides).
  { profile: "conv-v7", host: "full-inplace", filters: ["conv:*", "vmtype:*", "hw:snp:inplace:*"] },
  { profile: "conv-v8", host: "full-inplace", filters: ["conv:*", "vmtype:*"] },
  // The seed-000 and seed-004 mutants of the pre-merge series.
  { profile: "upm-v9", host: "full", filters: ["rmem:*", "attrh:*", "vmtype:*"] },
  { profile: "upm-v10", host: "full", filters: ["rmem:*", "attrh:*"] },
  { profile: "rfc-v11", host: "full", filters: ["attrh:*"] },
  // The first guest_memfd revision: guest_memfd and KVM_CAP_GUEST_MEMFD only for VMs with private memory.
  { profile: "linux-6.8", host: "full" },
  // the arm64 suites on a plain arm64 host and under pKVM (every other suite is written for x86_64 or s390x)
  { profile: "linux-7.2", host: "arm64", filters: ["arm64:*", "hw:pkvm:*"] },
  { profile: "linux-7.2", host: "arm64-pkvm", filters: ["arm64:*", "hw:pkvm:*"] },
  // The Arm CCA series on an arm64 host with an RMM: its own suites.
  { profile: "cca-v14", host: "arm64-cca", filters: ["hw:cca:*"] },
  // Gunyah's demand paging on the guest_memfd library: its own suites and the arm64 ones.
  { profile: "linux-7.2", host: "arm64-gunyah", filters: ["arm64:*", "hw:gunyah:*"] },
  // UPM's restricted file with shmem THP on (seed 000's accounting): its own cases only.
  { profile: "upm-v9", host: "full-shmem-huge", filters: ["rmem:*"] },
  { profile: "upm-v10", host: "full-shmem-within-size", filters: ["rmem:*"] },
];
const hinted = first === undefined ? undefined : configs.find((c) => `${c.profile}@${c.host}` === first.config);
const order = hinted === undefined ? configs : [{ ...hinted, filters: [`=${first!.id}`] }, ...configs];
for (const cfg of order) {
  const stop = {
    caseDone(c: { id: string; outcome: string }): void {
      if (c.outcome === "PASS" || c.outcome === "SKIP") return;
      failed.push(`${cfg.profile}@${cfg.host} ${c.outcome} ${c.id}`);
      if (firstFailure) {
        report(failed);
        process.exit(0);
      }
    },
  };
  await run({ spec, cases, driver: driverChoice("reference", { profile: cfg.profile, host: cfg.host, ...(checkInvariants ? { checkInvariants: true } : {}) }), filters: cfg.filters ?? [], timeoutMs: 10000, expectations: Expectations.none(), reporters: [stop], suiteFiles: files });
}
report(failed);
