// The `inject` operation: make the next operation that can observe a fault meet it
// after `after` units (pages) of progress. An allocation failure is observed by the
// next operation that allocates; a pending signal by the next one that checks for
// signals (fallocate, KVM_PRE_FAULT_MEMORY, KVM_RUN); a memslot deletion racing the
// operation by the next pre-fault (the race a single-threaded model cannot produce
// otherwise). The operation that observes the injection spends it, whether or not
// it got far enough to fail.

export type InjectedFault = "enomem" | "signal" | "memslot-race";

export class FaultInjector {
  private armed = new Map<InjectedFault, number>();
  /** units the current operation has used per armed fault */
  private used = new Map<InjectedFault, number>();

  arm(fault: InjectedFault, after: number): void {
    this.armed.set(fault, after);
  }

  /** The operation is over: an injection it observed is spent. */
  endOperation(): void {
    if (this.used.size === 0) return;
    for (const fault of this.used.keys()) this.armed.delete(fault);
    this.used.clear();
  }

  /** How many of `wanted` allocations succeed before the injected ENOMEM (all of them when none is armed). */
  allocations(wanted: number): number {
    return this.take("enomem", wanted);
  }

  /** How many of `wanted` pages are processed before a pending signal is seen. */
  pagesBeforeSignal(wanted: number): number {
    return this.take("signal", wanted);
  }

  /** How many of `wanted` pages are mapped before the memslot is seen being deleted. */
  pagesBeforeMemslotRace(wanted: number): number {
    return this.take("memslot-race", wanted);
  }

  private take(fault: InjectedFault, wanted: number): number {
    const after = this.armed.get(fault);
    if (after === undefined) return wanted;
    const used = this.used.get(fault) ?? 0;
    const allowed = Math.min(after - used, wanted);
    this.used.set(fault, used + allowed);
    return allowed;
  }
}
