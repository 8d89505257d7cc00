// A slice of the conformance run against the reference (parts.ts says which, and why it is cut).
import { describeConformancePart } from "./parts.js";

await describeConformancePart(import.meta.url);
