// kselftest-style TypeScript suites, for flows a JSON step list cannot express
// (loops until a condition, values computed from earlier results). Fixtures have a
// setup and a teardown that always runs; variants multiply cases; ASSERT_* stops
// the case, EXPECT_* records a failure and goes on.
import type { Op, OpResult } from "../../spec/driver/contract.js";
import type { ParamValue } from "../case/types.js";

export class AssertionStop extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssertionStop";
  }
}

export class SkipCase extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "SkipCase";
  }
}

/** What a scenario case sees. */
export interface TestContext {
  readonly profile: string;
  readonly pageSize: bigint;
  readonly features: readonly string[];
  /** a constant of the driver's profile (throws if the profile does not define it) */
  c(name: string): bigint;
  /** evaluate an expression with constants and the case's variant values */
  value(expr: string): bigint;
  call(op: Op): Promise<OpResult>;
  log(message: string): void;
  skip(reason: string): never;
  ASSERT(cond: boolean, message: string): void;
  ASSERT_EQ(actual: unknown, expected: unknown, message: string): void;
  /** the call succeeded (no errno, no signal) */
  ASSERT_OK(r: OpResult, what: string): void;
  ASSERT_ERRNO(r: OpResult, errno: string | string[], what: string): void;
  EXPECT(cond: boolean, message: string): void;
  EXPECT_EQ(actual: unknown, expected: unknown, message: string): void;
  EXPECT_OK(r: OpResult, what: string): void;
  EXPECT_ERRNO(r: OpResult, errno: string | string[], what: string): void;
}

export interface Fixture<S = unknown> {
  description?: string;
  requires?: string[];
  setup(t: TestContext): Promise<S>;
  /** runs after the case whatever happened, if setup returned */
  teardown?(t: TestContext, self: S): Promise<void>;
}

export interface ScenarioCase {
  name: string;
  title?: string;
  clauses: string[];
  requires?: string[];
  profiles?: string;
  control?: string;
  timeoutMs?: number;
  fixture?: string;
  /** each combination of variant values is one case, id suffix k=v;k=v */
  variants?: Record<string, ParamValue[] | Record<string, ParamValue>>;
  run(t: TestContext, self: unknown, variant: Record<string, ParamValue>): Promise<void>;
}

export interface ScenarioSuite {
  suite: string;
  title: string;
  description?: string;
  /** the machine (uname -m) the cases are written for; default x86_64 */
  arch?: "x86_64" | "s390x" | "aarch64";
  fixtures?: Record<string, Fixture<unknown>>;
  cases: ScenarioCase[];
}

/** The per-case body the runner executes. */
export interface ScenarioBody {
  fixture?: Fixture<unknown>;
  run: ScenarioCase["run"];
}

export function defineSuite(suite: ScenarioSuite): ScenarioSuite {
  return suite;
}

/** A result in words, for messages. */
export { describe as describeResult } from "../case/match.js";
