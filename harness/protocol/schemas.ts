// Generates spec/schema/suite.schema.json and spec/schema/protocol.schema.json from
// the op table, so steps, messages and the TypeScript types cannot drift apart.
// `npm run gen:schemas` writes them; a unit test checks the committed files match.
import { OPS, PROCESS_PARAM, type ParamSpec } from "../../spec/driver/ops.js";
import { CONTRACT_VERSION } from "../../spec/driver/contract.js";
import { MAX_BATCH_STEPS } from "../../spec/driver/batch.js";
import { UNNAMED_ERRNO, UNNAMED_SIGNAL, wireVocabulary } from "../../spec/driver/names.js";

type Schema = Record<string, unknown>;
const COMMON = "common.schema.json#/$defs/";
const PARAM_REF = "^\\$\\{[a-z_][a-z0-9_]*\\}$";

function stepParam(p: ParamSpec): Schema {
  switch (p.kind) {
    case "int": return { $ref: COMMON + "intOrExpr", description: p.doc };
    case "string": return { type: "string", description: p.doc };
    case "bool": return { oneOf: [{ type: "boolean" }, { type: "string", pattern: PARAM_REF }], description: p.doc };
    case "bytes": return { $ref: "#/$defs/bytes", description: p.doc };
    case "int-list": return { type: "array", items: { $ref: COMMON + "intOrExpr" }, description: p.doc };
    case "int-or-fields": return { oneOf: [{ $ref: COMMON + "intOrExpr" }, { $ref: "#/$defs/fields" }], description: p.doc };
    case "enum": return { oneOf: [{ enum: [...(p.values ?? [])] }, { type: "string", pattern: PARAM_REF }], description: p.doc };
    case "records": return recordsSchema(p, stepParam);
  }
}

function wireParam(p: ParamSpec): Schema {
  switch (p.kind) {
    case "int": return { $ref: "#/$defs/int", description: p.doc };
    case "string": return { type: "string", description: p.doc };
    case "bool": return { type: "boolean", description: p.doc };
    case "bytes": return { $ref: "#/$defs/hex", description: p.doc };
    case "int-list": return { type: "array", items: { $ref: "#/$defs/int" }, description: p.doc };
    case "int-or-fields": return { oneOf: [{ $ref: "#/$defs/int" }, { $ref: "#/$defs/fields" }], description: p.doc };
    case "enum": return { enum: [...(p.values ?? [])], description: p.doc };
    case "records": return recordsSchema(p, wireParam);
  }
}

/** A list of objects whose fields are the parameter's `fields`, each optional. */
function recordsSchema(p: ParamSpec, param: (p: ParamSpec) => Schema): Schema {
  const properties = Object.fromEntries(Object.entries(p.fields ?? {}).map(([n, f]) => [n, param(f)]));
  return { type: "array", items: { type: "object", additionalProperties: false, properties }, description: p.doc };
}

function opSchemas(param: (p: ParamSpec) => Schema, extra: Schema): Schema[] {
  return Object.entries(OPS).map(([name, spec]) => {
    const params = spec.params as Record<string, ParamSpec>;
    const required = ["op", ...Object.entries(params).filter(([, p]) => p.optional !== true).map(([n]) => n)];
    return {
      type: "object",
      description: spec.doc,
      required,
      additionalProperties: false,
      properties: {
        op: { const: name },
        process: param(PROCESS_PARAM),
        ...Object.fromEntries(Object.entries(params).map(([n, p]) => [n, param(p)])),
        ...extra,
      },
    };
  });
}

const matchSchema: Schema = {
  description: "an integer or expression to equal, or a comparison",
  oneOf: [
    { $ref: COMMON + "intOrExpr" },
    {
      type: "object",
      minProperties: 1,
      maxProperties: 1,
      additionalProperties: false,
      properties: Object.fromEntries(
        [["eq", "ne", "lt", "le", "gt", "ge", "bitsSet", "bitsClear"].map((k) => [k, { $ref: COMMON + "intOrExpr" }]), [["any", { type: "array", minItems: 1, items: { $ref: COMMON + "intOrExpr" } }]]].flat(),
      ),
    },
  ],
};

/** Machines (uname -m) a suite may be written for. */
export const SUITE_ARCHES = ["x86_64", "s390x", "aarch64"] as const;
export const DEFAULT_SUITE_ARCH = "x86_64";

export function suiteSchema(): Schema {
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: "suite.schema.json",
    title: "A conformance suite: cases as data",
    description: "GENERATED from spec/driver/ops.ts by `npm run gen:schemas`; do not edit by hand. A case's id is `<suite>:<name>` followed by `:k=v;k=v` for its parameters.",
    type: "object",
    required: ["suite", "title", "cases"],
    additionalProperties: false,
    properties: {
      $schema: { type: "string" },
      suite: { type: "string", pattern: "^[a-z0-9_-]+(:[a-z0-9_-]+)*$" },
      title: { type: "string" },
      description: { type: "string" },
      arch: { enum: [...SUITE_ARCHES], description: "the machine (uname -m) the cases are written for; drivers on another one skip them. Default x86_64" },
      fixtures: {
        type: "object",
        propertyNames: { pattern: "^[a-z][a-z0-9_-]*$" },
        additionalProperties: {
          type: "object",
          required: ["steps"],
          additionalProperties: false,
          properties: { description: { type: "string" }, requires: { $ref: "#/$defs/requires" }, steps: { $ref: "#/$defs/steps" } },
        },
      },
      cases: { type: "array", minItems: 1, items: { $ref: "#/$defs/case" } },
    },
    $defs: { ...caseDefs(), ...stepDefs(), ...expectDefs() },
  };
}

/** A case, and the parameter lists, generators and fixture calls it may use. */
function caseDefs(): Record<string, Schema> {
  return {
    case: {
      type: "object",
      required: ["name", "clauses", "steps"],
      additionalProperties: false,
      properties: {
        name: { type: "string", pattern: "^[a-z0-9_]+$" },
        title: { type: "string" },
        clauses: { type: "array", minItems: 1, items: { type: "string", pattern: "^[A-Z0-9]+(-[A-Z0-9]+)?-[0-9]{3}$" } },
        requires: { $ref: "#/$defs/requires" },
        profiles: { $ref: COMMON + "profileSet" },
        params: {
          description: "cartesian product of named value lists (a list, or an object of label -> value), or an explicit list of parameter objects",
          oneOf: [
            { type: "object", minProperties: 1, propertyNames: { pattern: "^[a-z_][a-z0-9_]*$" }, additionalProperties: { $ref: "#/$defs/paramValues" } },
            { type: "array", minItems: 1, items: { type: "object", minProperties: 1, propertyNames: { pattern: "^[a-z_][a-z0-9_]*$" }, additionalProperties: { $ref: "#/$defs/paramValue" } } },
          ],
        },
        fixture: {
          description: "a fixture's name, or a call that gives its parameters (vm_gmem_of(type=KVM_X86_DEFAULT_VM, size=4*PAGE_SIZE, flags=0)); a list runs in order",
          oneOf: [{ $ref: "#/$defs/fixtureCall" }, { type: "array", minItems: 1, items: { $ref: "#/$defs/fixtureCall" } }],
        },
        control: { type: "string", description: "query of the case(s) that succeed with the same arguments but one; required where a case expects an error or a signal" },
        steps: { $ref: "#/$defs/steps" },
        timeoutMs: { type: "integer", minimum: 1 },
      },
    },
    requires: { type: "array", items: { type: "string", pattern: "^!?[a-z0-9-]+(:[a-z0-9-]+)*$" } },
    paramValue: { oneOf: [{ type: "integer" }, { type: "string", minLength: 1 }, { type: "boolean" }] },
    fixtureCall: { type: "string", pattern: "^[a-z][a-z0-9_-]*(\\(.*\\))?$" },
    generator: {
      description: "written out by the loader (harness/case/generators.ts): each set bit of a constant expression alone, or a boundary and its neighbours",
      oneOf: [
        {
          type: "object",
          required: ["bits"],
          additionalProperties: false,
          properties: {
            bits: {
              type: "object",
              required: ["of"],
              additionalProperties: false,
              properties: { of: { $ref: COMMON + "intOrExpr" }, width: { type: "integer", minimum: 1, maximum: 64 } },
            },
          },
        },
        { type: "object", required: ["around"], additionalProperties: false, properties: { around: { $ref: COMMON + "intOrExpr" } } },
      ],
    },
    paramValues: {
      // anyOf: {"around": "PAGE_SIZE"} reads both as a generator and as one labelled value; the loader takes it as the generator
      anyOf: [
        { $ref: "#/$defs/generator" },
        { type: "array", minItems: 1, items: { oneOf: [{ $ref: "#/$defs/paramValue" }, { $ref: "#/$defs/generator" }] } },
        { type: "object", minProperties: 1, propertyNames: { pattern: "^[A-Za-z0-9_+.-]+$" }, additionalProperties: { $ref: "#/$defs/paramValue" } },
      ],
    },
  };
}

/** Steps: one schema per operation of spec/driver/ops.ts, and the data they carry. */
function stepDefs(): Record<string, Schema> {
  return {
    steps: { type: "array", minItems: 1, items: { $ref: "#/$defs/step" } },
    step: {
      type: "object",
      required: ["op"],
      discriminator: { propertyName: "op" },
      oneOf: opSchemas(stepParam, {
        as: { type: "string", pattern: "^[a-z_][a-z0-9_]*$", description: "bind the result: $name is ret, $name.field is out.field" },
        expect: { $ref: "#/$defs/expect" },
        note: { type: "string" },
      }),
    },
    bytes: {
      oneOf: [
        { type: "object", required: ["fill", "len"], additionalProperties: false, properties: { fill: { $ref: COMMON + "intOrExpr" }, len: { $ref: COMMON + "intOrExpr" } } },
        { type: "object", required: ["hex"], additionalProperties: false, properties: { hex: { type: "string", pattern: "^([0-9a-fA-F]{2})*$" } } },
      ],
    },
    fields: {
      type: "object",
      propertyNames: { pattern: "^[a-z_][a-z0-9_]*(\\[\\d+\\])?$" },
      additionalProperties: { oneOf: [{ $ref: COMMON + "intOrExpr" }, { type: "array", items: { $ref: COMMON + "intOrExpr" } }, { $ref: "#/$defs/fields" }] },
    },
  };
}

/** What a step must observe: an outcome, per profile, or on a condition. */
function expectDefs(): Record<string, Schema> {
  return {
    match: matchSchema,
    dataMatch: {
      oneOf: [
        { type: "object", required: ["fill"], additionalProperties: false, properties: { fill: { $ref: COMMON + "intOrExpr" } } },
        { type: "object", required: ["hex"], additionalProperties: false, properties: { hex: { type: "string", pattern: "^([0-9a-fA-F]{2})*$" } } },
      ],
    },
    textMatch: { type: "object", required: ["text"], additionalProperties: false, properties: { text: { type: "string", description: "exact text (for out.link); ${param} is interpolated" } } },
    outcome: {
      type: "object",
      description: "what the step must observe; without errno or signal the call must succeed",
      additionalProperties: false,
      properties: {
        ret: { $ref: "#/$defs/match" },
        errno: { oneOf: [{ $ref: COMMON + "errnoName" }, { type: "array", minItems: 1, items: { $ref: COMMON + "errnoName" } }] },
        signal: { $ref: COMMON + "signalName" },
        out: { type: "object", additionalProperties: { oneOf: [{ $ref: "#/$defs/match" }, { $ref: "#/$defs/dataMatch" }, { $ref: "#/$defs/textMatch" }] } },
        data: { $ref: "#/$defs/dataMatch" },
        exit: {
          type: "object",
          required: ["reason"],
          properties: { reason: { type: "string", pattern: "^KVM_EXIT_[A-Z_]+$" } },
          additionalProperties: { type: "object", additionalProperties: { oneOf: [{ $ref: "#/$defs/match" }, { $ref: "#/$defs/dataMatch" }] } },
        },
      },
    },
    expect: {
      oneOf: [
        { $ref: "#/$defs/outcome" },
        {
          type: "object",
          required: ["byProfile"],
          additionalProperties: false,
          properties: { byProfile: { type: "object", minProperties: 1, propertyNames: { $ref: COMMON + "profileSet" }, additionalProperties: { $ref: "#/$defs/outcome" } } },
        },
        {
          type: "object",
          required: ["if", "then", "else"],
          additionalProperties: false,
          properties: { if: { type: "string" }, then: { $ref: "#/$defs/expect" }, else: { $ref: "#/$defs/expect" } },
        },
      ],
    },
  };
}

export function fixturesSchema(): Schema {
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: "fixtures.schema.json",
    title: "Fixtures shared by the JSON suites of a directory tree (files named *.fixtures.json)",
    description: "GENERATED from spec/driver/ops.ts by `npm run gen:schemas`; do not edit by hand.",
    type: "object",
    required: ["fixtures"],
    additionalProperties: false,
    properties: {
      $schema: { type: "string" },
      description: { type: "string" },
      fixtures: { $ref: "suite.schema.json#/properties/fixtures" },
    },
  };
}

export function protocolSchema(): Schema {
  const hello = {
    type: "object",
    required: ["type", "contractVersion", "name", "version", "profile", "features", "host"],
    additionalProperties: false,
    properties: {
      type: { const: "hello" },
      id: { $ref: "#/$defs/id" },
      contractVersion: { type: "string", pattern: "^\\d+\\.\\d+$" },
      name: { type: "string", minLength: 1 },
      version: { type: "string" },
      profile: { $ref: COMMON + "profileName" },
      features: { type: "array", uniqueItems: true, items: { enum: [...wireVocabulary().features] }, description: "names of spec/features.json" },
      operations: {
        type: "array",
        uniqueItems: true,
        items: { type: "string", pattern: "^[a-z][a-z0-9_]*$" },
        description: `the operations the driver offers (since 1.1; absent: every operation of its contract version). This runner knows: ${Object.keys(OPS).join(", ")}`,
      },
      host: { type: "object", required: ["kernel", "arch", "pageSize"], properties: { kernel: { type: "string" }, arch: { type: "string" }, pageSize: { type: "integer", minimum: 1 } } },
      batch: { type: "object", required: ["maxSteps"], additionalProperties: false, properties: { maxSteps: { type: "integer", minimum: 1 } }, description: "since 1.4: the driver runs batched calls of at most maxSteps steps" },
    },
  };
  const released = { type: "object", required: ["fds", "mappings", "processes"], additionalProperties: false, properties: { fds: { type: "integer" }, mappings: { type: "integer" }, processes: { type: "integer" } } };
  // a message of contract 1.4 (batched calls)
  const since14 = (type: string, required: string[], description: string, properties: Record<string, unknown>) => ({
    type: "object",
    required: ["type", "id", ...required],
    additionalProperties: false,
    description,
    properties: { type: { const: type }, id: { $ref: "#/$defs/id" }, ...properties },
  });
  // anyOf: a string of digits is both a big integer and a string.
  const outValue = { anyOf: [{ $ref: "#/$defs/int" }, { type: "string" }, { type: "array", items: { $ref: "#/$defs/outValue" } }, { type: "object", additionalProperties: { $ref: "#/$defs/outValue" } }] };
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: "protocol.schema.json",
    title: `privmem-cts driver protocol ${CONTRACT_VERSION} (JSON lines over stdio)`,
    description: "GENERATED from spec/driver/ops.ts by `npm run gen:schemas`; do not edit by hand. See harness/protocol/CONTRACT.md.",
    oneOf: [{ $ref: "#/$defs/request" }, { $ref: "#/$defs/response" }],
    $defs: {
      id: { type: "integer", minimum: 0 },
      int: { oneOf: [{ type: "integer" }, { type: "string", pattern: "^-?\\d+$" }] },
      hex: { type: "string", pattern: "^([0-9a-f]{2})*$" },
      fields: { type: "object", additionalProperties: { oneOf: [{ $ref: "#/$defs/int" }, { type: "array", items: { $ref: "#/$defs/int" } }, { $ref: "#/$defs/fields" }] } },
      outValue,
      op: { type: "object", required: ["op"], discriminator: { propertyName: "op" }, oneOf: opSchemas(wireParam, {}) },
      result: {
        type: "object",
        required: ["ret"],
        additionalProperties: false,
        properties: {
          ret: { $ref: "#/$defs/int" },
          errno: { description: "a name of spec/constants.json's errno group (aliases such as ENOTSUP are refused), or E#<n> for a number it does not name", anyOf: [{ enum: [...wireVocabulary().errno] }, { type: "string", pattern: UNNAMED_ERRNO }] },
          signal: { description: "a name of spec/constants.json's signal group (aliases such as SIGIOT are refused), or SIG#<n>", anyOf: [{ enum: [...wireVocabulary().signal] }, { type: "string", pattern: UNNAMED_SIGNAL }] },
          out: { type: "object", additionalProperties: { $ref: "#/$defs/outValue" } },
          exit: { type: "object", required: ["reason"], properties: { reason: { type: "string" } }, additionalProperties: { $ref: "#/$defs/outValue" } },
        },
      },
      request: {
        description: "runner -> driver",
        type: "object",
        required: ["type"],
        discriminator: { propertyName: "type" },
        oneOf: [
          { type: "object", required: ["type", "id", "contractVersion"], additionalProperties: false, properties: { type: { const: "hello" }, id: { $ref: "#/$defs/id" }, contractVersion: { type: "string" } } },
          { type: "object", required: ["type", "id", "op"], additionalProperties: false, properties: { type: { const: "call" }, id: { $ref: "#/$defs/id" }, op: { $ref: "#/$defs/op" } } },
          { type: "object", required: ["type", "id"], additionalProperties: false, properties: { type: { enum: ["reset", "shutdown"] }, id: { $ref: "#/$defs/id" } } },
          since14("batch", ["steps"], "since 1.4, to a driver whose handshake states batch", {
            reset: { type: "boolean", description: "after the last step, when every step ran, reset the session as a reset request would and say what it released" },
            steps: {
              type: "array",
              minItems: 1,
              maxItems: MAX_BATCH_STEPS,
              items: {
                type: "object",
                required: ["op"],
                additionalProperties: false,
                properties: {
                  op: { type: "object", required: ["op"], description: "an op as in a call, without the parameters named in refs" },
                  refs: { type: "object", additionalProperties: { type: "object", required: ["ref", "field"], additionalProperties: false, properties: { ref: { type: "integer", minimum: 0 }, field: { type: "string", pattern: "^(ret|out\\.[a-z_][a-z0-9_]*)$" }, add: { $ref: "#/$defs/int" } } }, description: "by parameter name, or by dotted path to a field of a struct parameter (arg.userspace_addr)" },
                  expect: { type: "object", additionalProperties: false, properties: { errno: { type: "array", minItems: 1, items: { type: "string" } }, signal: { type: "string" }, exit: { type: "string" } } },
                },
              },
            },
          }),
        ],
      },
      response: {
        description: "driver -> runner",
        type: "object",
        required: ["type"],
        discriminator: { propertyName: "type" },
        oneOf: [
          hello,
          { type: "object", required: ["type", "id", "result"], additionalProperties: false, properties: { type: { const: "result" }, id: { $ref: "#/$defs/id" }, result: { $ref: "#/$defs/result" } } },
          {
            type: "object",
            required: ["type", "id", "released"],
            additionalProperties: false,
            properties: {
              type: { const: "reset" },
              id: { $ref: "#/$defs/id" },
              released,
            },
          },
          { type: "object", required: ["type", "id"], additionalProperties: false, properties: { type: { const: "bye" }, id: { $ref: "#/$defs/id" } } },
          since14("results", ["results"], "since 1.4: the answer to a batch", {
            results: { type: "array", maxItems: MAX_BATCH_STEPS, items: { $ref: "#/$defs/result" } },
            stopped: { type: "string" },
            released,
            error: { type: "object", required: ["kind", "message"], additionalProperties: false, properties: { kind: { enum: ["unsupported", "protocol", "internal", "unavailable"] }, message: { type: "string" } } },
          }),
          {
            type: "object",
            required: ["type", "id", "kind", "message"],
            additionalProperties: false,
            properties: { type: { const: "error" }, id: { $ref: "#/$defs/id" }, kind: { enum: ["unsupported", "protocol", "internal", "unavailable"] }, message: { type: "string" } },
          },
        ],
      },
    },
  };
}
