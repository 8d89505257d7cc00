// The argument of an `ioctl` operation as the kernel sees it: a value, or a user
// buffer holding the request's struct, encoded and decoded with spec/layouts.json
// exactly as a driver for a real kernel would.
import type { Decoded, FieldMap } from "../../spec/codec.js";
import { CodecError } from "../../spec/codec.js";
import type { IoctlDef, Spec } from "../../spec/index.js";
import { DriverFailure, type FieldValues } from "../../spec/driver/contract.js";
import { fail } from "../lib/errno.js";
import type { IoctlCall } from "../process/file.js";

type Struct = { [field: string]: Decoded };

export class UserIoctlArg implements IoctlCall {
  readonly request: number;
  readonly value: bigint;
  private user: Struct | null = null;
  /** the layout the caller's request encoded the argument with */
  private readonly layout: string | null;

  constructor(
    private readonly spec: Spec,
    def: IoctlDef,
    arg: bigint | FieldValues | undefined,
    private readonly invalidPointer: boolean,
  ) {
    this.request = def.request;
    const struct = def.arg === null || def.arg === "value" || def.arg === "u64" ? null : (def.buffer ?? def.arg);
    this.layout = struct;
    if (struct === null) {
      if (arg !== undefined && typeof arg !== "bigint") throw new DriverFailure("protocol", `${def.name} takes a value, not fields`);
      this.value = arg ?? 0n;
      return;
    }
    if (typeof arg === "bigint") throw new DriverFailure("protocol", `${def.name} takes a struct ${struct}, not a value`);
    this.value = 0n;
    try {
      this.user = spec.codec.decode(struct, spec.codec.encode(struct, (arg ?? {}) as FieldMap));
    } catch (err) {
      if (err instanceof CodecError) throw new DriverFailure("protocol", err.message);
      throw err;
    }
  }

  readStruct(): Struct {
    if (this.invalidPointer || this.user === null) return fail("EFAULT");
    return { ...this.user };
  }

  writeStruct(values: Struct): void {
    if (this.invalidPointer || this.user === null) fail("EFAULT");
    this.user = values;
  }

  /** copy_from_user with the layout the kernel reads: the same bytes, seen as struct `name`. */
  readStructAs(name: string): Struct {
    const user = this.readStruct();
    return this.spec.codec.decode(name, this.spec.codec.encode(this.layout!, user as FieldMap)) as Struct;
  }

  /** copy_to_user of struct `name` over the caller's argument. */
  writeStructAs(name: string, values: Struct): void {
    if (this.invalidPointer || this.user === null) fail("EFAULT");
    this.user = this.spec.codec.decode(this.layout!, this.spec.codec.encode(name, values as FieldMap)) as Struct;
  }

  /** copy_to_user of a __u64 argument: the operation's out is { value }. */
  writeU64(value: bigint): void {
    if (this.invalidPointer || this.layout !== null) fail("EFAULT");
    this.user = { value };
  }

  /** The struct as the call left it in user memory, for the operation's `out`. */
  get out(): Struct | undefined {
    return this.invalidPointer ? undefined : (this.user ?? undefined);
  }
}
