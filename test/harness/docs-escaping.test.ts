// `privmem-cts docs` writes Markdown that renderers read as HTML too: text from the
// spec (clause titles, statements, notes, sources, areas, profiles, layouts) must
// come out with <, > and & as entities (issue 15, security). The spec is a copy
// with hostile text planted in it.
import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../spec/paths.js";

const EVIL = `<script>alert(1)</script> & <img src=x onerror=alert(2)> &amp;`;

describe("privmem-cts docs escapes the spec's text", function () {
  this.timeout(60000);

  it("a clause, area, profile and layout note with <script> and & come out as entities (in reports/docs of the current directory)", () => {
    const root = mkdtempSync(join(tmpdir(), "pmc-docs-"));
    cpSync(join(PROJECT_ROOT, "package.json"), join(root, "package.json"));
    for (const d of ["spec", "suites", join("dist", "spec"), join("dist", "harness"), join("dist", "reference-impl"), join("dist", "suites")]) cpSync(join(PROJECT_ROOT, d), join(root, d), { recursive: true });
    symlinkSync(join(PROJECT_ROOT, "node_modules"), join(root, "node_modules"));
    const edit = (file: string, change: (j: Record<string, any>) => void) => {
      const p = join(root, "spec", file);
      const j = JSON.parse(readFileSync(p, "utf8"));
      change(j);
      writeFileSync(p, JSON.stringify(j, null, 2));
    };
    edit(join("clauses", "attr.json"), (j) => {
      j.title = `area ${EVIL}`;
      const c = j.clauses[0];
      c.title = `title ${EVIL}`;
      c.statement = `statement ${EVIL}`;
      c.sources[0].note = `source ${EVIL}`;
      c.verification.note = `verification ${EVIL}`;
      const variant = Object.keys(c.profiles)[0]!;
      c.profiles[variant].note = `variant ${EVIL}`;
    });
    edit("profiles.json", (j) => {
      j.profiles[0].title = `profile ${EVIL}`;
    });
    edit("layouts.json", (j) => {
      j.structs.kvm_memory_attributes.note = `layout ${EVIL}`;
    });
    // No --out: the pages go to reports/docs in the current directory, not into the package.
    const cwd = mkdtempSync(join(tmpdir(), "pmc-docs-cwd-"));
    const out = join(cwd, "reports", "docs");
    const r = spawnSync(process.execPath, [join(root, "dist", "harness", "cli", "main.js"), "docs"], { encoding: "utf8", timeout: 50000, cwd });
    expect(r.status, r.stderr).to.equal(0);
    expect(existsSync(join(root, "reports")), "nothing written into the package").to.equal(false);
    const pages = readdirSync(out).filter((f) => f.endsWith(".md"));
    const all = pages.map((f) => readFileSync(join(out, f), "utf8")).join("\n");
    // Every planted text arrived, escaped.
    for (const where of ["area", "title", "statement", "source", "verification", "variant", "profile", "layout"]) expect(all, where).to.contain(`${where} &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(2)&gt; &amp;amp;`);
    expect(all).not.to.match(/<script|<img/i);
    // No bare & anywhere: each one starts an entity this page wrote.
    expect(all.match(/&(?!(lt|gt|amp);)/g)).to.equal(null);
  });
});
