// The driver contract: what a driver is told (operations) and what it answers
// (results), in-process types. The wire form of the same values is in wire.ts and
// described for other languages in CONTRACT.md.
import type { ProfileName } from "../index.js";
import { OPS, type OpName, type ParamKind } from "./ops.js";
import type { BatchReply, BatchStep } from "./batch.js";

export const CONTRACT_VERSION = "1.4";

export type FieldValue = bigint | FieldValue[] | { [field: string]: FieldValue };
export type FieldValues = { [field: string]: FieldValue };

type KindType<K extends ParamKind, V> = K extends "int"
  ? bigint
  : K extends "string"
    ? string
    : K extends "bool"
      ? boolean
      : K extends "bytes"
        ? Uint8Array
        : K extends "int-list"
          ? bigint[]
          : K extends "int-or-fields"
            ? bigint | FieldValues
            : K extends "enum"
              ? V extends readonly string[]
                ? V[number]
                : string
              : never;

/** A record of a "records" parameter: each field typed by its spec, all optional. */
type RecordOf<F> = { [Q in keyof F]?: F[Q] extends { kind: infer K extends ParamKind; values: infer V } ? KindType<K, V> : F[Q] extends { kind: infer K extends ParamKind } ? KindType<K, undefined> : never };

type Params<O extends OpName> = (typeof OPS)[O]["params"];
type ParamType<O extends OpName, P extends keyof Params<O>> = Params<O>[P] extends { kind: "records"; fields: infer F }
  ? RecordOf<F>[]
  : Params<O>[P] extends { kind: infer K extends ParamKind; values: infer V }
  ? KindType<K, V>
  : Params<O>[P] extends { kind: infer K extends ParamKind }
    ? KindType<K, undefined>
    : never;
type Required_<O extends OpName> = { [P in keyof Params<O> as Params<O>[P] extends { optional: true } ? never : P]: ParamType<O, P> };
type Optional_<O extends OpName> = { [P in keyof Params<O> as Params<O>[P] extends { optional: true } ? P : never]?: ParamType<O, P> };

/** One operation, e.g. { op: "fallocate", fd: 5n, mode: 3n, offset: 0n, len: 4096n }. */
export type Op = { [O in OpName]: { op: O; process?: bigint } & Required_<O> & Optional_<O> }[OpName];
export type OpOf<O extends OpName> = Extract<Op, { op: O }>;

export type OutValue = bigint | string | Uint8Array | OutValue[] | { [k: string]: OutValue };

export interface ExitInfo {
  /** exit reason by name, e.g. KVM_EXIT_MEMORY_FAULT (numbers differ between profiles) */
  reason: string;
  [payload: string]: OutValue;
}

/** What happened. ret is -1 with errno for a failed call; signal is set when the access raised one. */
export interface OpResult {
  ret: bigint;
  errno?: string;
  signal?: string;
  out?: { [field: string]: OutValue };
  exit?: ExitInfo;
}

export interface HostFacts {
  kernel: string;
  arch: string;
  pageSize: number;
  [fact: string]: unknown;
}

export interface Handshake {
  contractVersion: string;
  name: string;
  version: string;
  profile: ProfileName;
  features: string[];
  /**
   * The operations the driver offers (since contract 1.1). Absent: every operation of the
   * contract version the driver states (a 1.0 driver offers the 1.0 vocabulary).
   */
  operations?: OpName[];
  host: HostFacts;
  /** since 1.4: the driver runs batched calls (spec/driver/batch.ts) of at most maxSteps steps */
  batch?: { maxSteps: number };
}

export interface ResetReport {
  /** resources the session still held and the driver released */
  released: { fds: number; mappings: number; processes: number };
}

/** A driver session. Implementations: the in-process reference adapter, a child process, a remote command. */
export interface Driver {
  readonly handshake: Handshake;
  call(op: Op): Promise<OpResult>;
  /** Release every resource the session holds; the next case starts clean. */
  reset(): Promise<ResetReport>;
  close(): Promise<void>;
  /** Stop at once (a timed-out case): kill the process or mark the session unusable. */
  abort(reason?: string): void;
  /** A driver in another process: why it failed while idle (after its last reply), if it did. */
  readonly failedIdle?: DriverFailure;
  /** since 1.4, when the handshake states `batch`: several steps in one request (spec/driver/batch.ts) */
  batch?(steps: BatchStep[], thenReset?: boolean): Promise<BatchReply>;
}

/** Why a driver could not answer. The runner maps these to CRASH, TIMEOUT and ERROR. */
export class DriverFailure extends Error {
  constructor(
    readonly kind: "crash" | "timeout" | "protocol" | "unsupported" | "internal" | "unavailable",
    message: string,
  ) {
    super(message);
    this.name = "DriverFailure";
  }
}

/** The driver cannot run on this machine at all (e.g. no /dev/kvm): every case is skipped with this reason. */
export class DriverUnavailable extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "DriverUnavailable";
  }
}

/** Same major version: a driver and a runner can talk. */
export function compatibleContract(version: string): boolean {
  return version.split(".")[0] === CONTRACT_VERSION.split(".")[0];
}

/** The contract version an operation first appeared in ("1.0" unless ops.ts says otherwise). */
export function opSince(op: OpName): string {
  return (OPS[op] as { since?: string }).since ?? "1.0";
}

function minor(version: string): number {
  return Number(version.split(".")[1] ?? "0");
}

const offered = new WeakMap<Handshake, ReadonlySet<string>>();
/** The operations a driver offers: its handshake's list, or every operation of the contract version it states. */
export function offeredOperations(hs: Handshake): ReadonlySet<string> {
  let set = offered.get(hs);
  if (set === undefined) {
    const all = Object.keys(OPS) as OpName[];
    set = new Set(hs.operations ?? all.filter((op) => minor(opSince(op)) <= minor(hs.contractVersion)));
    offered.set(hs, set);
  }
  return set;
}

export function isOpName(s: string): s is OpName {
  return Object.prototype.hasOwnProperty.call(OPS, s);
}
