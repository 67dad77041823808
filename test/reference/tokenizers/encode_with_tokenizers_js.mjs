// Expected token ids for test/unittests/Tokenizer, from an implementation
// independent of ours: @huggingface/tokenizers (pure JavaScript).
//
// Regenerate (needs node and npm; CI does not run this):
//   mkdir -p /tmp/tokjs && cd /tmp/tokjs && npm install @huggingface/tokenizers@0.2.0
//   NODE_PATH=/tmp/tokjs/node_modules node encode_with_tokenizers_js.mjs \
//     test/Inputs/tokenizers test/reference/tokenizers/strings.json \
//     > test/Inputs/tokenizers/expected-js.json
//
// For every directory of FIXTURES_DIR holding a tokenizer.json, prints the
// ids of each string of STRINGS_JSON, with and without the special tokens
// the post-processor adds.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const require = createRequire(import.meta.url);
const lib = require(require.resolve("@huggingface/tokenizers", {
  paths: [...(process.env.NODE_PATH || "").split(":"), process.cwd()],
}));
const { Tokenizer } = lib;

const [fixturesDir, stringsPath] = process.argv.slice(2);
const strings = JSON.parse(fs.readFileSync(stringsPath, "utf8"));
const result = {};
for (const name of fs.readdirSync(fixturesDir).sort()) {
  const file = path.join(fixturesDir, name, "tokenizer.json");
  if (!fs.existsSync(file)) continue;
  const tokenizer = new Tokenizer(JSON.parse(fs.readFileSync(file, "utf8")), {});
  result[name] = strings.map((text) => ({
    text,
    ids: tokenizer.encode(text).ids,
    ids_no_special: tokenizer.encode(text, { add_special_tokens: false }).ids,
  }));
}
process.stdout.write(JSON.stringify(result, null, 0).replace(/\},\{/g, "},\n{") + "\n");
