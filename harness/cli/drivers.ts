// `privmem-cts drivers`: each available driver's handshake (or why it is not available).
import { DriverUnavailable } from "../../spec/driver/contract.js";
import { driverChoice } from "../drivers/index.js";
import { json, out, parse } from "./common.js";

export const DRIVERS_HELP = `privmem-cts drivers [--json]

Print the handshake of each driver: the reference (host models full and pvm) and
linux (/dev/kvm on this machine), with profile, features and host facts.`;

export async function cmdDrivers(argv: string[]): Promise<number> {
  const { values: o } = parse(argv, { json: { type: "boolean", default: false } });
  const entries: { driver: string; handshake?: unknown; unavailable?: string }[] = [];
  for (const [spec, opts] of [["reference", { host: "full" }], ["reference", { host: "pvm" }], ["linux", {}]] as const) {
    const label = "host" in opts ? `${spec} --host ${opts.host}` : spec;
    try {
      const d = await driverChoice(spec, opts).open();
      entries.push({ driver: label, handshake: d.handshake });
      await d.close();
    } catch (err) {
      entries.push({ driver: label, unavailable: err instanceof DriverUnavailable ? err.reason : (err as Error).message });
    }
  }
  if (o.json) json(entries);
  else
    for (const e of entries) {
      out(`${e.driver}:`);
      if (e.unavailable !== undefined) out(`  unavailable: ${e.unavailable}`);
      else {
        const hs = e.handshake as { name: string; version: string; contractVersion: string; profile: string; features: string[]; host: Record<string, unknown> };
        out(`  ${hs.name} ${hs.version}, contract ${hs.contractVersion}, profile ${hs.profile}`);
        out(`  host: ${JSON.stringify(hs.host)}`);
        out(`  features: ${hs.features.join(" ")}`);
      }
    }
  return 0;
}
