// What an SNP guest reads back from its private pages. Memory is encrypted with the
// guest's key, so the guest reads plaintext only where it (or the firmware, at launch)
// wrote under that key; anything else is the hardware's decryption of what the host
// left there, which the model does not invent. Forgotten when the page goes back to
// the hypervisor.
import type { Folio } from "../../../mm/folio.js";

/** Bytes of a page whose plaintext the model knows under the guest's key (written by the guest, or by the firmware at launch). */
export class GuestPlaintext {
  private readonly known = new WeakMap<Folio, { asid: number; bytes: Uint8Array }>();

  /** The guest (or the firmware for it) wrote [offset, offset+len) under asid's key. */
  mark(folio: Folio, asid: number, offset: number, len: number): void {
    let k = this.known.get(folio);
    if (k === undefined || k.asid !== asid) this.known.set(folio, (k = { asid, bytes: new Uint8Array(folio.size) }));
    k.bytes.fill(1, offset, offset + len);
  }

  /** Whether the guest reads plaintext it knows, rather than host-written memory decrypted with its key. */
  readable(folio: Folio, asid: number, offset: number, len: number): boolean {
    const k = this.known.get(folio);
    return k !== undefined && k.asid === asid && k.bytes.subarray(offset, offset + len).every((b) => b === 1);
  }

  /** The page went back to the hypervisor: whatever it holds is no longer the guest's plaintext. */
  forget(folio: Folio): void {
    this.known.delete(folio);
  }
}
