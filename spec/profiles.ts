// Profiles are uAPI revisions on one timeline; a profile set names some of them
// ("linux-6.8+", "upm-v9..upm-v10", "rfc-v11,linux-7.2").
import { SPEC_DIR } from "./paths.js";
import { displayPath, loadValidated } from "./validate.js";
import { InputError } from "./errors.js";
import { join } from "node:path";

export const PROFILE_ORDER = ["poison-rfc-v2", "upm-v9", "upm-v10", "rfc-v11", "linux-6.8", "linux-6.18", "linux-6.19", "linux-7.2", "cca-v14", "conv-v7", "conv-v8"] as const;
export type ProfileName = (typeof PROFILE_ORDER)[number];

export interface ProfileInfo {
  name: ProfileName;
  title: string;
  kind: "proposal" | "release" | "in-flight";
  date: string;
  /** release profiles: the stable point release the rules are taken at */
  stable?: string;
  /** what the profile rests on, and what is not yet verified */
  note?: string;
  sources: { kind: string; ref: string; note?: string }[];
}

export function isProfileName(s: string): s is ProfileName {
  return (PROFILE_ORDER as readonly string[]).includes(s);
}

export function profileIndex(p: ProfileName): number {
  return PROFILE_ORDER.indexOf(p);
}

const expanded = new Map<string, ProfileName[]>();

/** Expand a profile set to the profiles it names, in timeline order. Throws on a malformed set. */
export function expandProfileSet(set: string): ProfileName[] {
  let profiles = expanded.get(set);
  if (!profiles) expanded.set(set, (profiles = expandUncached(set)));
  return profiles;
}

function expandUncached(set: string): ProfileName[] {
  const chosen = new Set<ProfileName>();
  for (const part of set.split(",")) {
    const range = /^([a-z0-9.-]+?)(\+|\.\.([a-z0-9.-]+))?$/.exec(part.trim());
    const from = range?.[1];
    if (!range || !from || !isProfileName(from)) throw new Error(`bad profile set "${set}"`);
    let to: ProfileName = from;
    if (range[2] === "+") to = PROFILE_ORDER[PROFILE_ORDER.length - 1]!;
    else if (range[3] !== undefined) {
      if (!isProfileName(range[3])) throw new Error(`bad profile set "${set}"`);
      to = range[3];
    }
    const a = profileIndex(from);
    const b = profileIndex(to);
    if (b < a) throw new Error(`profile range "${part}" runs backwards`);
    for (let i = a; i <= b; i++) chosen.add(PROFILE_ORDER[i]!);
  }
  return PROFILE_ORDER.filter((p) => chosen.has(p));
}

export function inProfileSet(set: string | undefined, profile: ProfileName): boolean {
  return set === undefined || expandProfileSet(set).includes(profile);
}

export function loadProfiles(dir: string = SPEC_DIR): ProfileInfo[] {
  const file = join(dir, "profiles.json");
  const data = loadValidated<{ profiles: ProfileInfo[] }>("profiles.schema.json", file);
  // Range expansion follows PROFILE_ORDER; the file must list the same timeline.
  const names = data.profiles.map((p) => p.name).join(",");
  if (names !== PROFILE_ORDER.join(",")) throw new InputError([{ file: displayPath(file), pointer: "/profiles", expected: `the profiles in timeline order ${PROFILE_ORDER.join(", ")} (the file lists ${names})` }]);
  return data.profiles;
}
