// `profiles diff A B` reads as the history of the API: the steps through the revisions between A and B.
import { expect } from "chai";
import { profileHistory, timelinePath } from "../../harness/cli/profiles.js";

describe("profiles diff: history", () => {
  it("walks the pre-merge series and releases between A and B, leaving the in-flight branches out", () => {
    expect(timelinePath("upm-v9", "linux-6.18")).to.deep.equal(["upm-v9", "upm-v10", "rfc-v11", "linux-6.8", "linux-6.18"]);
    expect(timelinePath("linux-6.18", "conv-v8")).to.deep.equal(["linux-6.18", "linux-6.19", "linux-7.2", "conv-v8"]);
  });

  it("each step says what appeared, vanished and changed there (upm-v9 to upm-v10: the v9 bugs fixed, REG/UNREG_REGION gone)", () => {
    const d = profileHistory("upm-v9", "linux-6.18");
    expect(d.history!.map((s) => `${s.from}>${s.to}`)).to.deep.equal(["upm-v9>upm-v10", "upm-v10>rfc-v11", "rfc-v11>linux-6.8", "linux-6.8>linux-6.18"]);
    const first = d.history![0]!;
    expect(first.changed.map((c) => c.id)).to.include.members(["RMEM-005", "RMEM-012", "RMEM-024", "RMEM-027"]);
    expect(first.removed.map((c) => c.id)).to.deep.equal(["RMEM-011", "RMEM-019", "RMEM-029", "RMEM-030"]);
    expect(d.history![2]!.changed.map((c) => c.id)).to.include("EXIT-001");
  });

  it("adjacent revisions have no history, only their diff", () => {
    expect(profileHistory("upm-v9", "upm-v10").history).to.equal(undefined);
    expect(profileHistory("linux-6.18", "upm-v9").history, "backwards").to.equal(undefined);
  });
});
