// The constants of one profile, by name, for the linux driver's tests (a missing one is a test bug).
import type { ProfileName, Spec } from "../../spec/index.js";

export function constantsOf(spec: Spec, profile: ProfileName): (name: string) => bigint {
  return (name) => {
    const v = spec.constant(name, profile);
    if (v === undefined) throw new Error(`no constant ${name}`);
    return v;
  };
}
