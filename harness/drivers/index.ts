// Which drivers exist and how to open them: `reference` (in process), `linux`
// (a child process talking to /dev/kvm), `remote:<command>` (any executable that
// speaks the protocol; the command is split into words as a shell would).
import { existsSync, readdirSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { PROFILE_ORDER, isProfileName, type ProfileName } from "../../spec/profiles.js";
import { CAPTURES_DIR, PROJECT_ROOT } from "../../spec/paths.js";
import { UsageError } from "../../spec/errors.js";
import { HOSTS, hostFromProbe, type HostModel, type ProbedHost } from "../../reference-impl/system/hosts.js";
import { readCaptureHeader } from "../capture/capture.js";
import { DriverUnavailable, type Driver } from "../../spec/driver/contract.js";
import { ChildProcessDriver, splitCommand } from "../protocol/child.js";
import type { DriverChoice } from "../runner/runner.js";
import { openReferenceInProcess } from "./reference.js";

export const DEFAULT_REFERENCE_PROFILE: ProfileName = "linux-7.2";
export const DEFAULT_REFERENCE_HOST = "full";
export const PROFILE_ENV = "PRIVMEM_CTS_PROFILE";

/**
 * The main job's reference configurations: every modelled release on every host model
 * (x86 full and pvm, s390, arm64 and arm64-pkvm), the in-place conversion series (conv-v7, conv-v8) on the full host with
 * per-VM attributes and on full-inplace without them, the 2021 poisoned-page design (poison-rfc-v2) and the pre-merge
 * series on the two x86 host models, then the reference configured as each captured host at its capture's profile
 * (captures/*.jsonl).
 */
export const REFERENCE_MATRIX: { profile: ProfileName; host: string }[] = [
  ...(["linux-6.8", "linux-6.18", "linux-6.19", "linux-7.2"] as ProfileName[]).flatMap((profile) => ["full", "pvm", "s390", "arm64", "arm64-pkvm"].map((host) => ({ profile, host }))),
  { profile: "conv-v7", host: "full" },
  { profile: "conv-v7", host: "full-inplace" },
  { profile: "conv-v8", host: "full" },
  { profile: "conv-v8", host: "full-inplace" },
  { profile: "poison-rfc-v2", host: "full" },
  { profile: "poison-rfc-v2", host: "pvm" },
  // The pre-merge series: UPM v9 and v10 (memfd_restricted; full has private slots, pvm not), the guest_memfd RFC v11.
  ...(["upm-v9", "upm-v10", "rfc-v11"] as ProfileName[]).flatMap((profile) => ["full", "pvm"].map((host) => ({ profile, host }))),
  // UPM's restricted file with shmem THP on for the internal mount (seed 000: a 4 KiB fallocate may take 2 MiB).
  ...(["upm-v9", "upm-v10"] as ProfileName[]).flatMap((profile) => ["full-shmem-huge", "full-shmem-within-size"].map((host) => ({ profile, host }))),
  // The Arm CCA host series (cca-v14, not merged) on an arm64 host with an RMM.
  { profile: "cca-v14", host: "arm64-cca" },
  // The same kernel on an arm64 host without an RMM: KVM_CAP_ARM_RMI is 0 and the REALM type EINVAL.
  { profile: "cca-v14", host: "arm64" },
  // Gunyah at EL2 (an out-of-tree design, arch/arm64/gunyah): the arm64 releases with guest_memfd.
  ...(["linux-6.18", "linux-6.19", "linux-7.2"] as ProfileName[]).map((profile) => ({ profile, host: "arm64-gunyah" })),
  ...committedCaptures().map((file) => ({ profile: readCaptureHeader(file).handshake.profile, host: relative(process.cwd(), file) || file })),
];

/** The captures committed under captures/, oldest name first. */
export function committedCaptures(): string[] {
  if (!existsSync(CAPTURES_DIR)) return [];
  return readdirSync(CAPTURES_DIR)
    .filter((f) => f.endsWith(".jsonl"))
    .sort()
    .map((f) => join(CAPTURES_DIR, f));
}

/** How a configuration's host reads in labels and folder names: a capture by its file's base name. */
export function hostLabel(host: string): string {
  return host.endsWith(".jsonl") ? basename(host, ".jsonl") : host;
}

export interface DriverOptions {
  profile?: string;
  /** reference only: a host model name, or a capture file whose host the model is configured as */
  host?: string;
  /** reference only, instead of host: configure the model as the host a driver probed (its handshake) */
  probed?: ProbedHost;
  /** reference only: check the model's invariants after every operation */
  checkInvariants?: boolean;
  /** where a child driver's stderr goes */
  onStderr?: (chunk: string) => void;
}

export { UsageError };

function checkProfile(p: string | undefined): ProfileName | undefined {
  if (p === undefined) return undefined;
  if (!isProfileName(p)) throw new UsageError(`unknown profile ${p} (profiles: ${PROFILE_ORDER.join(", ")})`);
  return p;
}

async function openLinuxDriver(profile: ProfileName | undefined, opts: DriverOptions): Promise<Driver> {
  const mod = join(PROJECT_ROOT, "dist", "harness", "drivers", "linux", "index.js");
  if (!existsSync(mod)) throw new DriverUnavailable("the linux driver is not built (run npm run build)");
  const { openLinux } = (await import(pathToFileURL(mod).href)) as { openLinux: (o: { profile?: ProfileName; onStderr?: (s: string) => void }) => Promise<Driver> };
  return openLinux({ ...(profile ? { profile } : {}), ...(opts.onStderr ? { onStderr: opts.onStderr } : {}) });
}

/**
 * A reference host: a named host model, or a host capture (captures/*.jsonl), whose
 * handshake configures the model as that host, at the capture's profile unless --profile says otherwise.
 */
export function referenceHost(host: string): { model: string | HostModel; profile?: ProfileName } {
  if (Object.prototype.hasOwnProperty.call(HOSTS, host)) return { model: host };
  if (!host.endsWith(".jsonl") || !existsSync(host))
    throw new UsageError(`unknown host model ${host} (host models: ${Object.keys(HOSTS).join(", ")}, or a capture file such as captures/<host>.jsonl)`);
  const { handshake } = readCaptureHeader(host);
  try {
    return { model: hostFromProbe(handshake), profile: handshake.profile };
  } catch (err) {
    throw new UsageError(`${host}: ${(err as Error).message}`);
  }
}

export function driverChoice(spec: string, opts: DriverOptions = {}): DriverChoice {
  const profile = checkProfile(opts.profile);
  if (spec === "reference") {
    const hostName = opts.probed ? `probed:${opts.probed.host.kernel}` : (opts.host ?? DEFAULT_REFERENCE_HOST);
    const { model, profile: capturedProfile } = opts.probed ? { model: hostFromProbe(opts.probed), profile: undefined } : referenceHost(hostName);
    const p = profile ?? capturedProfile ?? DEFAULT_REFERENCE_PROFILE;
    return {
      label: "reference",
      reproArgs: ["--profile", p, "--host", hostName],
      open: async () => openReferenceInProcess({ profile: p, host: model, ...(opts.checkInvariants ? { checkInvariants: true } : {}) }),
    };
  }
  if (opts.host !== undefined) throw new UsageError("--host only applies to the reference driver");
  if (opts.checkInvariants) throw new UsageError("--check-invariants only applies to the reference driver");
  if (spec === "linux") {
    return { label: "linux", reproArgs: profile ? ["--profile", profile] : [], open: () => openLinuxDriver(profile, opts) };
  }
  if (spec.startsWith("remote:")) {
    const words = splitCommand(spec.slice("remote:".length));
    if (words.length === 0) throw new UsageError("remote: needs a command, e.g. --driver 'remote:npx privmem-cts serve'");
    return {
      label: spec,
      reproArgs: profile ? ["--profile", profile] : [],
      open: () =>
        ChildProcessDriver.start({
          command: words[0]!,
          args: words.slice(1),
          env: { ...process.env, ...(profile ? { [PROFILE_ENV]: profile } : {}) },
          ...(opts.onStderr ? { onStderr: opts.onStderr } : {}),
        }),
    };
  }
  throw new UsageError(`unknown driver ${spec} (drivers: reference, linux, remote:<command>)`);
}

