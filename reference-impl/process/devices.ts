// Character devices reachable through open(2): their inode (on devtmpfs) and
// /dev/null. /dev/kvm's file lives in system/kvm-device.ts.
import type { Kernel } from "../kernel.js";
import { Inode, OpenFile } from "./file.js";

export class CharDeviceInode extends Inode {
  constructor(
    kernel: Kernel,
    readonly path: string,
    major: number,
    minor: number,
  ) {
    super(kernel, kernel.fs.devtmpfs, kernel.nextIno(), kernel.K.s.IFCHR | 0o600);
    this.rdev = BigInt((major << 8) | minor);
  }
}

/** A file opened through a path: pread/pwrite are allowed, llseek is noop_llseek. */
export abstract class DeviceFile extends OpenFile {
  override readonly positional = true;

  link(): string {
    return (this.inode as CharDeviceInode).path;
  }

  override llseek(): bigint {
    return this.pos;
  }
}

/** /dev/null: reads see end of file, writes vanish. */
export class NullFile extends DeviceFile {
  override read(): Uint8Array {
    return new Uint8Array(0);
  }

  override readAt(): Uint8Array {
    return new Uint8Array(0);
  }

  override write(data: Uint8Array): number {
    return data.length;
  }

  override writeAt(data: Uint8Array): number {
    return data.length;
  }

  override llseek(): bigint {
    this.pos = 0n;
    return 0n;
  }
}
