// Bundle the extension and vscode-languageclient into one file, so the .vsix needs no node_modules.
import { build } from "esbuild";

await build({
  entryPoints: ["src/extension.ts"],
  bundle: true,
  outfile: "dist/extension.js",
  external: ["vscode"],
  format: "cjs",
  platform: "node",
  // jsonc-parser's UMD build loads its parts with a require() esbuild cannot follow: take its ES modules.
  mainFields: ["module", "main"],
  target: "node20",
  sourcemap: true,
  minify: true,
  logLevel: "warning",
});
