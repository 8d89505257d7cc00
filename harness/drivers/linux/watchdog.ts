// The watchdog that stops KVM_RUN for a guest that does not exit: two thread-directed
// timers sending the same signal. One counts the thread's CPU time (the guest's
// budget: time the thread ran, in the guest or in the kernel for it), so a loaded
// machine that keeps the thread off the CPU, or a hypervisor that steals its vCPU,
// does not use the budget up before the guest has run; on a monotonic clock alone a
// guest that exits after a millisecond of work was stopped early under load. The
// other counts wall time, a cap for a guest that sleeps in the kernel (HLT with an
// in-kernel irqchip) and so uses no CPU time.
import { ThreadTimer } from "./libc.js";

/** How long, in wall time, a run may last for each unit of its CPU budget. */
export const WALL_CAP_FACTOR = 4;

export class Watchdog {
  private cpuArmed = false;
  private wallArmed = false;

  private constructor(
    private readonly cpu: ThreadTimer,
    private readonly wall: ThreadTimer,
  ) {}

  /** Both timers, sending `signal` to the calling thread only. */
  static create(signal: number): Watchdog {
    return new Watchdog(ThreadTimer.create(signal, "thread-cpu"), ThreadTimer.create(signal, "monotonic"));
  }

  /**
   * Fire once the thread has run `cpuMs` (whole milliseconds; undefined: no CPU budget)
   * or `wallMs` have passed, whichever comes first, and again at that period until
   * disarmed (ThreadTimer.arm says why it repeats).
   */
  arm(cpuMs: number | undefined, wallMs: number): void {
    if (cpuMs !== undefined) this.cpu.arm(cpuMs);
    this.cpuArmed = cpuMs !== undefined;
    this.wall.arm(wallMs);
    this.wallArmed = true;
  }

  disarm(): void {
    if (this.cpuArmed) this.cpu.disarm();
    if (this.wallArmed) this.wall.disarm();
    this.cpuArmed = this.wallArmed = false;
  }

  delete(): void {
    this.cpu.delete();
    this.wall.delete();
  }
}
