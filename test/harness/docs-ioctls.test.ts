// `privmem-cts docs` shows every ioctl of every profile, history included: a row per
// revision in the index and a page per ioctl, also for those no clause is about.
import { expect } from "chai";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cmdDocs } from "../../harness/cli/docs.js";
import { loadSpec } from "../../spec/index.js";
import { formatRequest } from "../../spec/ioc.js";

describe("privmem-cts docs: every ioctl across profiles", function () {
  this.timeout(60000);
  const spec = loadSpec();
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "pmc-docs-ioctls-"));
    await cmdDocs(["--out", dir]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("the index lists each revision of each ioctl with its request, and each ioctl has a page with its request table", () => {
    const index = readFileSync(join(dir, "index.md"), "utf8");
    for (const name of spec.ioctlNames()) {
      const page = join(dir, `${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}.md`);
      expect(existsSync(page), name).to.equal(true);
      const text = readFileSync(page, "utf8");
      for (const r of spec.ioctlRevisions(name)) {
        const req = formatRequest(r.def.request);
        expect(index, `${name} ${r.profiles.join(",")}`).to.include(`| ${r.profiles.join(", ")} | \`${req}\``);
        expect(text, `${name} page`).to.include(`\`${req}\``);
      }
    }
  });

  it("the pre-merge revisions are there: SET at 0xd3 in UPM v10 (_IOWR) and RFC v11 (_IOW), GET_SUPPORTED only before 6.8", () => {
    const index = readFileSync(join(dir, "index.md"), "utf8");
    expect(index).to.include("| upm-v10 | `0xC020AED3`").and.to.include("| rfc-v11 | `0x4020AED3`").and.to.include("| upm-v10, rfc-v11 | `0x8008AED2`");
  });
});
