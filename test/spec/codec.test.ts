import { expect } from "chai";
import { loadSpec } from "../../spec/index.js";
import { ioc, formatRequest } from "../../spec/ioc.js";
import { CodecError } from "../../spec/codec.js";

describe("spec: _IOC and struct codec", () => {
  const spec = loadSpec();

  it("computes the documented request numbers from the layouts", () => {
    expect(formatRequest(spec.ioctl("KVM_CREATE_GUEST_MEMFD", "linux-6.18")!.request)).to.equal("0xC040AED4");
    expect(formatRequest(spec.ioctl("KVM_SET_USER_MEMORY_REGION2", "linux-6.18")!.request)).to.equal("0x40A0AE49");
    expect(formatRequest(spec.ioctl("KVM_SET_MEMORY_ATTRIBUTES", "linux-6.8")!.request)).to.equal("0x4020AED2");
    expect(formatRequest(spec.ioctl("KVM_SET_MEMORY_ATTRIBUTES", "upm-v10")!.request)).to.equal("0xC020AED3");
    expect(formatRequest(spec.ioctl("KVM_PRE_FAULT_MEMORY", "linux-7.2")!.request)).to.equal("0xC040AED5");
    expect(spec.ioctl("KVM_PRE_FAULT_MEMORY", "rfc-v11")).to.equal(undefined);
    expect(ioc("none", 0xae, 0x01, 0)).to.equal(0xae01);
  });

  it("has the struct sizes of the uAPI", () => {
    const sizes: Record<string, number> = {
      kvm_create_guest_memfd: 64,
      kvm_userspace_memory_region: 32,
      kvm_userspace_memory_region2: 160,
      kvm_memory_attributes: 32,
      kvm_memory_attributes2: 128,
      kvm_pre_fault_memory: 64,
      kvm_enc_region: 16,
      kvm_regs: 144,
      kvm_sregs: 312,
      stat: 144,
    };
    for (const [name, size] of Object.entries(sizes)) expect(spec.codec.get(name).size, name).to.equal(size);
  });

  it("encodes fields at their offsets and decodes them back", () => {
    const bytes = spec.codec.encode("kvm_userspace_memory_region2", {
      slot: 1 | (1 << 16),
      flags: 4,
      guest_phys_addr: 0x100000000n,
      memory_size: 0x200000,
      guest_memfd_offset: 0x1000,
      guest_memfd: -1,
      "pad2[13]": 0xffn,
    });
    expect(bytes.length).to.equal(160);
    expect(Buffer.from(bytes).readUInt32LE(0)).to.equal(0x10001);
    expect(Buffer.from(bytes).readBigUInt64LE(8)).to.equal(0x100000000n);
    expect(Buffer.from(bytes).readInt32LE(40)).to.equal(-1);
    expect(bytes[48 + 13 * 8]).to.equal(0xff);
    const back = spec.codec.decode("kvm_userspace_memory_region2", bytes);
    expect(back.guest_memfd, "__u32 in the uapi header: -1 reads back as 0xffffffff").to.equal(0xffffffffn);
    expect(back.guest_memfd_offset).to.equal(0x1000n);
    expect((back.pad2 as bigint[])[13]).to.equal(0xffn);
  });

  it("decodes nested structs (kvm_sregs segments)", () => {
    const bytes = spec.codec.encode("kvm_sregs", { cs: { base: 0xffff0000n, limit: 0xffff, selector: 0xf000 }, cr0: 0x60000010n });
    const back = spec.codec.decode("kvm_sregs", bytes);
    expect((back.cs as Record<string, bigint>).base).to.equal(0xffff0000n);
    expect((back.cs as Record<string, bigint>).selector).to.equal(0xf000n);
    expect(back.cr0).to.equal(0x60000010n);
  });

  it("rejects unknown fields and values that do not fit", () => {
    expect(() => spec.codec.encode("kvm_create_guest_memfd", { sise: 1 })).to.throw(CodecError, /no field "sise"/);
    expect(() => spec.codec.encode("kvm_userspace_memory_region", { slot: 1n << 32n })).to.throw(CodecError, /does not fit/);
    expect(() => spec.codec.encode("kvm_create_guest_memfd", { "reserved[6]": 1 })).to.throw(CodecError, /index out of range/);
  });

  it("wraps negative values two's-complement like C", () => {
    const bytes = spec.codec.encode("kvm_create_guest_memfd", { size: -1 });
    expect(Buffer.from(bytes).readBigUInt64LE(0)).to.equal(0xffffffffffffffffn);
  });
});
