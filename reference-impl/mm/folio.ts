// A page of memory (an order-0 folio). Stage-2 mappings and host mappings point
// at Folio objects, so a mapping that survives an invalidation it should not have
// survived keeps showing the old page: that is how zap bugs become observable.
// Contents are stored only once something non-zero is written.

export type FolioOwnerKind = "guest_memfd" | "shmem" | "anon";

export interface FolioOwner {
  readonly kind: FolioOwnerKind;
  readonly ino: number;
}

let nextFolioId = 1;

/** Zeros to compare with, as long as the longest write seen yet. */
let zeros = Buffer.alloc(4096);

/** Whether every byte is 0: one native comparison (a byte loop was a hot spot of whole runs). */
function allZero(bytes: Uint8Array): boolean {
  if (zeros.length < bytes.length) zeros = Buffer.alloc(bytes.length);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).equals(zeros.subarray(0, bytes.length));
}

export class Folio {
  readonly id = nextFolioId++;
  private data: Uint8Array | null = null;
  /** contents were cleared for first use (folio_test_uptodate) */
  uptodate = false;
  hwpoison = false;
  /** removed from its page cache or address space and given back to the allocator */
  freed = false;
  /** the NUMA node the page was allocated on (folio_nid); migration changes it */
  node = 0;

  constructor(
    readonly owner: FolioOwner,
    /** page index in the owner (file index, or virtual page number for anonymous memory) */
    readonly index: number,
    readonly size: number,
  ) {}

  read(offset: number, len: number): Uint8Array {
    return this.data === null ? new Uint8Array(len) : this.data.slice(offset, offset + len);
  }

  write(offset: number, bytes: Uint8Array): void {
    if (this.data === null) {
      if (allZero(bytes)) return;
      this.data = new Uint8Array(this.size);
    }
    this.data.set(bytes, offset);
  }

  clear(): void {
    this.data = null;
  }

  /** A new folio with the same contents (copy-on-write, fork). */
  copy(owner: FolioOwner, index: number): Folio {
    const f = new Folio(owner, index, this.size);
    if (this.data !== null) f.data = this.data.slice();
    f.uptodate = true;
    return f;
  }
}
