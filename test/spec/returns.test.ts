// What ops.ts marks as handles: returned fds (conditional on fcntl's command), fds in out, fd parameters.
import { expect } from "chai";
import { loadSpec } from "../../spec/index.js";
import { fdParams, handleKind, outFds } from "../../spec/driver/returns.js";
import { OPS } from "../../spec/driver/ops.js";

describe("spec/driver/returns: handles named by ops.ts", () => {
  const spec = loadSpec();
  const K = (n: string) => spec.constant(n, "linux-6.18")!;

  it("fcntl returns an fd only for F_DUPFD and F_DUPFD_CLOEXEC (in a profile, in any, and as wire numbers)", () => {
    expect(handleKind(spec, { op: "fcntl", fd: 3n, cmd: K("F_DUPFD"), arg: 0n }, "linux-6.18")).to.equal("fd");
    expect(handleKind(spec, { op: "fcntl", fd: 3n, cmd: K("F_DUPFD_CLOEXEC") })).to.equal("fd");
    expect(handleKind(spec, { op: "fcntl", fd: 3, cmd: Number(K("F_DUPFD_CLOEXEC")) })).to.equal("fd");
    expect(handleKind(spec, { op: "fcntl", fd: 3n, cmd: K("F_GETFL") }, "linux-6.18")).to.equal(undefined);
    expect(handleKind(spec, { op: "fcntl", fd: 3n, cmd: K("F_GET_SEALS") })).to.equal(undefined);
  });

  it("operations and ioctls keep their declared kinds", () => {
    expect(handleKind(spec, { op: "open", path: "/dev/kvm", flags: 2n })).to.equal("fd");
    expect(handleKind(spec, { op: "mmap" })).to.equal("address");
    expect(handleKind(spec, { op: "pin_user_pages" })).to.equal("handle");
    expect(handleKind(spec, { op: "ioctl", request: "KVM_CREATE_VM" })).to.equal("fd");
    expect(handleKind(spec, { op: "ioctl", request: "KVM_CHECK_EXTENSION" })).to.equal(undefined);
    expect(handleKind(spec, { op: "read", fd: 3n, len: 1n })).to.equal(undefined);
  });

  it("a pipe's write end is an fd in out; no other operation has one", () => {
    expect(outFds("pipe")).to.deep.equal(["write_fd"]);
    expect(Object.keys(OPS).filter((o) => outFds(o).length > 0)).to.deep.equal(["pipe"]);
  });

  it("fd parameters are those ops.ts marks: fd, vcpu and the two ends of splice, sendfile and copy_file_range", () => {
    expect(fdParams("splice")).to.deep.equal(["fd_in", "fd_out"]);
    expect(fdParams("sendfile")).to.deep.equal(["out_fd", "in_fd"]);
    expect(fdParams("guest")).to.deep.equal(["vcpu"]);
    expect(fdParams("mmap")).to.deep.equal(["fd"]);
    expect(fdParams("munmap")).to.deep.equal([]);
    // every parameter called fd, vcpu or *_fd / fd_* is marked
    for (const [name, o] of Object.entries(OPS))
      for (const p of Object.keys(o.params)) if (/^(fd|vcpu|fd_\w+|\w+_fd)$/.test(p)) expect(fdParams(name), `${name}.${p}`).to.include(p);
  });
});
