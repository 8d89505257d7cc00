// `privmem-cts serve`: the reference implementation over the driver protocol on
// stdio, so any runner (or this one through --driver remote:...) can use it.
import { serveDriver } from "../protocol/server.js";
import { DEFAULT_REFERENCE_HOST, DEFAULT_REFERENCE_PROFILE, PROFILE_ENV, driverChoice } from "../drivers/index.js";
import { parse } from "./common.js";

export const SERVE_HELP = `privmem-cts serve [--profile P] [--host H]

Serve the reference implementation over the JSON-lines driver protocol on
stdin/stdout (harness/protocol/CONTRACT.md). The profile also comes from the
${PROFILE_ENV} environment variable, which remote drivers receive from the runner.
Defaults: --profile ${DEFAULT_REFERENCE_PROFILE} --host ${DEFAULT_REFERENCE_HOST}.`;

export async function cmdServe(argv: string[]): Promise<number> {
  const { values: o } = parse(argv, { profile: { type: "string" }, host: { type: "string" } });
  const profile = o.profile ?? process.env[PROFILE_ENV];
  const choice = driverChoice("reference", { ...(profile ? { profile } : {}), ...(o.host ? { host: o.host } : {}) });
  await serveDriver(() => choice.open());
  return 0;
}
