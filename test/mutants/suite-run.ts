// The suites a mutant of the model must fail, run in this process against a model given as its
// in-process adapter's openReference (the project's own, or a mutated copy's: copy.ts ModelCopies).
// Every suite against the reference on four configurations (three x86: two TDP hosts and a
// shadow-MMU host, one s390), the conversion suites on conv-v7 and conv-v8 with per-VM attributes
// off, the poisoned-page suites on poison-rfc-v2, the pre-merge series' suites, and the arm64
// and pKVM suites on the arm64 and arm64-pkvm hosts; with linux-6.8 (guest_memfd only for VMs with
// private memory) and the VM-type suites on the in-place and UPM v9 configurations.
import type { Spec } from "../../spec/index.js";
import type { ProfileName } from "../../spec/profiles.js";
import type { CaseDef } from "../../harness/case/types.js";
import { driverChoice } from "../../harness/drivers/index.js";
import type { openReference } from "../../harness/drivers/reference.js";
import { Expectations } from "../../harness/runner/expectations.js";
import { run, type Reporter } from "../../harness/runner/runner.js";
import { compileFilters } from "../../harness/case/query.js";

export type OpenModel = typeof openReference;

// conv-v7 on full-inplace (kvm.vm_memory_attributes=0) runs the conversion suites only: other suites assume per-VM attributes.
export const MUTANT_CONFIGS: { profile: ProfileName; host: string; filters?: string[] }[] = [
  // First: its 14 cases cost little, and its mutants need not wait for the whole matrix.
  { profile: "poison-rfc-v2", host: "full", filters: ["poison:*"] },
  { profile: "linux-7.2", host: "full" },
  { profile: "linux-6.18", host: "full" },
  { profile: "linux-6.18", host: "pvm" },
  { profile: "linux-7.2", host: "s390" },
  // vmtype:* too: what KVM_CHECK_EXTENSION answers per VM type with per-VM attributes off.
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

export interface SuiteRunOptions {
  /** the model to run (default: the project's own, as driverChoice opens it) */
  open?: OpenModel;
  /** stop at the first case that does not pass or skip (a mutant needs only one to be shown killed) */
  firstFailure?: boolean;
  /** "<profile>@<host> <outcome> <case id>" as a failure reads (test/mutants/kills.json): that case runs first; if it passes, every case runs as usual */
  first?: string;
  /** check the model's invariants after every operation (mutation/README.md) */
  checkInvariants?: boolean;
  /** run only these configurations ("<profile>@<host>"; default: every one) */
  configs?: string[];
}

export const configLabel = (c: { profile: string; host: string }): string => `${c.profile}@${c.host}`;

/** The cases that did not pass or skip, as "<profile>@<host> <outcome> <case id>" (only the first with firstFailure). */
export async function failingCases(spec: Spec, loaded: { cases: CaseDef[]; files: string[] }, opts: SuiteRunOptions = {}): Promise<string[]> {
  const [config, , id] = opts.first?.split(" ") ?? [];
  const configs = opts.configs === undefined ? MUTANT_CONFIGS : MUTANT_CONFIGS.filter((c) => opts.configs!.includes(configLabel(c)));
  if (configs.length !== (opts.configs?.length ?? configs.length)) throw new Error(`unknown configurations in ${opts.configs!.join(", ")}`);
  const hinted = config && id ? configs.find((c) => configLabel(c) === config) : undefined;
  const order = hinted === undefined ? configs : [{ ...hinted, filters: [`=${id}`] }, ...configs];
  const failed: string[] = [];
  const stop = new AbortController();
  for (const cfg of order) {
    if (stop.signal.aborted) break;
    const reporter = {
      caseDone(c: { id: string; outcome: string }): void {
        if (c.outcome === "PASS" || c.outcome === "SKIP") return;
        failed.push(`${configLabel(cfg)} ${c.outcome} ${c.id}`);
        if (opts.firstFailure) stop.abort();
      },
    };
    await runConfig(spec, loaded.cases.filter(inConfig(cfg)), loaded.files, cfg, { ...opts, reporter, signal: stop.signal });
  }
  return failed;
}

/** The cases of `cases` a configuration runs (its filters). */
export const inConfig = (cfg: { filters?: string[] }): ((c: CaseDef) => boolean) => {
  const select = compileFilters(cfg.filters ?? []);
  return (c) => select(c.id);
};

/** Run these cases against the model on one configuration (test/mutants/stryker-runner.ts runs a few cases at a time). */
export async function runConfig(
  spec: Spec,
  cases: CaseDef[],
  files: string[],
  cfg: { profile: ProfileName; host: string },
  opts: { open?: OpenModel; checkInvariants?: boolean; reporter: Reporter; signal?: AbortSignal },
): Promise<void> {
  const options = { profile: cfg.profile, host: cfg.host, ...(opts.checkInvariants ? { checkInvariants: true } : {}) };
  const choice = driverChoice("reference", options);
  const open = opts.open;
  const driver = open === undefined ? choice : { ...choice, open: async () => open(options) };
  await run({ spec, cases, driver, filters: [], timeoutMs: 10000, expectations: Expectations.none(), reporters: [opts.reporter], suiteFiles: files, ...(opts.signal ? { signal: opts.signal } : {}) });
}
