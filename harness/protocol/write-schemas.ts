// `npm run gen:schemas`: write the generated schemas into spec/schema/.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { SCHEMA_DIR } from "../../spec/paths.js";
import { fixturesSchema, protocolSchema, suiteSchema } from "./schemas.js";

for (const [name, schema] of [["suite.schema.json", suiteSchema()], ["fixtures.schema.json", fixturesSchema()], ["protocol.schema.json", protocolSchema()]] as const) {
  writeFileSync(join(SCHEMA_DIR, name), JSON.stringify(schema, null, 2) + "\n");
  console.log(`wrote spec/schema/${name}`);
}
