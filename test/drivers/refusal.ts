// The driver must refuse an operation with a DriverFailure (not a kernel errno).
import { expect } from "chai";
import { DriverFailure } from "../../spec/driver/contract.js";

export async function rejection(p: Promise<unknown>): Promise<DriverFailure> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(DriverFailure);
    return err as DriverFailure;
  }
  throw new Error("expected the driver to refuse");
}
