// Linux _IOC encoding (asm-generic/ioctl.h, used by x86): nr in bits 0-7, type
// in 8-15, size in 16-29, direction in 30-31 (write = 1, read = 2).
export type IocDir = "none" | "write" | "read" | "readwrite";

const DIR_BITS: Record<IocDir, number> = { none: 0, write: 1, read: 2, readwrite: 3 };
export const IOC_SIZE_MAX = (1 << 14) - 1;

export function ioc(dir: IocDir, type: number, nr: number, size: number): number {
  if (nr < 0 || nr > 0xff || type < 0 || type > 0xff) throw new RangeError("ioctl type and nr are 8-bit");
  if (size < 0 || size > IOC_SIZE_MAX) throw new RangeError(`ioctl size ${size} does not fit in 14 bits`);
  return ((DIR_BITS[dir] << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}

export function formatRequest(n: number): string {
  return "0x" + n.toString(16).toUpperCase().padStart(8, "0");
}
