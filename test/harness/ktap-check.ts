// A strict KTAP v1 reader for tests: version line, plan, results numbered from 1
// at each level, nested documents indented by two spaces, directives parsed.
export interface KtapResult {
  ok: boolean;
  n: number;
  description: string;
  directive?: string;
  children?: KtapResult[];
}

/**
 * Results of a KTAP document. "Bail out!" (an interrupted run) ends every open plan
 * early; the reason is then returned as `bailOut` on the result list, and only
 * comments may follow.
 */
export function parseKtap(text: string): KtapResult[] & { bailOut?: string } {
  const lines = text.split("\n").filter((l) => l !== "");
  let i = 0;
  let bailOut: string | undefined;
  const doc = (indent: string): KtapResult[] => {
    if (lines[i] !== `${indent}KTAP version 1`) throw new Error(`line ${i + 1}: expected "${indent}KTAP version 1", got "${lines[i]}"`);
    i++;
    const plan = /^(\d+)\.\.(\d+)( # SKIP.*)?$/.exec(lines[i]?.slice(indent.length) ?? "");
    if (!plan || !lines[i]!.startsWith(indent) || plan[1] !== "1") throw new Error(`line ${i + 1}: expected a plan 1..N, got "${lines[i]}"`);
    i++;
    const count = Number(plan[2]);
    const results: KtapResult[] = [];
    let pendingChildren: KtapResult[] | undefined;
    while (bailOut === undefined && i < lines.length && (lines[i]!.startsWith(indent) || lines[i]!.startsWith("Bail out!")) && results.length < count) {
      const line = lines[i]!.slice(indent.length);
      if (lines[i]!.startsWith("Bail out!")) {
        bailOut = lines[i++]!.slice("Bail out!".length).trim();
        break;
      }
      if (line.startsWith("  KTAP version 1")) {
        pendingChildren = doc(indent + "  ");
        continue;
      }
      if (line.startsWith("#")) {
        i++;
        continue;
      }
      const m = /^(ok|not ok) (\d+) ([^#]*?)(?: # (.*))?$/.exec(line);
      if (!m) throw new Error(`line ${i + 1}: not a KTAP line at this level: "${lines[i]}"`);
      if (Number(m[2]) !== results.length + 1) throw new Error(`line ${i + 1}: result number ${m[2]}, expected ${results.length + 1}`);
      // KTAP's directives, plus XPASS, which this project emits for a listed deviation that passed.
      if (m[4] !== undefined && !/^(SKIP|XFAIL|TIMEOUT|ERROR|XPASS|TODO)\b/.test(m[4])) throw new Error(`line ${i + 1}: unknown directive "${m[4]}"`);
      results.push({ ok: m[1] === "ok", n: Number(m[2]), description: m[3]!, ...(m[4] !== undefined ? { directive: m[4] } : {}), ...(pendingChildren ? { children: pendingChildren } : {}) });
      pendingChildren = undefined;
      i++;
    }
    if (bailOut === undefined && results.length !== count) throw new Error(`plan 1..${count} but ${results.length} results at indent "${indent}"`);
    while (i < lines.length && lines[i]!.startsWith(indent + "#")) i++;
    return results;
  };
  const top: KtapResult[] & { bailOut?: string } = doc("");
  while (i < lines.length && lines[i]!.trimStart().startsWith("#")) i++;
  if (i !== lines.length) throw new Error(`line ${i + 1}: trailing text "${lines[i]}"`);
  if (bailOut !== undefined) top.bailOut = bailOut;
  return top;
}
