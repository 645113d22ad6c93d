// A browser the Python tests drive, one JSON request per line on stdin, one JSON answer per line on
// stdout: {"id", "op", ...} -> {"id", "ok": true, "value"} or {"id", "ok": false, "error"}.
// It runs Debian's chromium through playwright-core (no downloaded browser) and knows nothing about
// VS Code: the tests (tests/clients/vscode_session.py) say what to click, type and read.
//
//   node browser_driver.mjs PLAYWRIGHT_CORE_DIR CHROMIUM_PATH
import { createRequire } from "node:module";
import * as readline from "node:readline";

const [playwrightDir, chromiumPath] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const { chromium } = require(`${playwrightDir}/node_modules/playwright-core`);

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
  ],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
const page = await context.newPage();
const consoleLines = [];
page.on("console", (message) => consoleLines.push(`${message.type()}: ${message.text()}`));

const ops = {
  async goto({ url, timeout = 60_000 }) {
    await page.goto(url, { timeout });
    return page.url();
  },
  async waitFor({ selector, text, timeout = 30_000, state = "visible" }) {
    const locator = text === undefined ? page.locator(selector) : page.locator(selector, { hasText: text });
    await locator.first().waitFor({ state, timeout });
    return true;
  },
  async count({ selector, text }) {
    const locator = text === undefined ? page.locator(selector) : page.locator(selector, { hasText: text });
    return locator.count();
  },
  async texts({ selector }) {
    return page.locator(selector).allInnerTexts();
  },
  async attributes({ selector, name }) {
    return page.locator(selector).evaluateAll((nodes, attribute) => nodes.map((node) => node.getAttribute(attribute)), name);
  },
  async click({ selector, text, timeout = 10_000 }) {
    const locator = text === undefined ? page.locator(selector) : page.locator(selector, { hasText: text });
    await locator.first().click({ timeout });
    return true;
  },
  async press({ keys }) {
    await page.keyboard.press(keys);
    return true;
  },
  async type({ text, delay = 10 }) {
    await page.keyboard.type(text, { delay });
    return true;
  },
  async screenshot({ path }) {
    await page.screenshot({ path });
    return path;
  },
  async console() {
    return consoleLines.splice(0);
  },
  async close() {
    await browser.close();
    setImmediate(() => process.exit(0));
    return true;
  },
};

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  let request;
  try {
    request = JSON.parse(line);
    const op = ops[request.op];
    if (op === undefined) {
      throw new Error(`unknown op ${request.op}`);
    }
    const value = await op(request);
    process.stdout.write(JSON.stringify({ id: request.id, ok: true, value }) + "\n");
  } catch (error) {
    process.stdout.write(JSON.stringify({ id: request?.id, ok: false, error: String(error?.message ?? error) }) + "\n");
  }
});
lines.on("close", async () => {
  await browser.close().catch(() => undefined);
  process.exit(0);
});
process.stdout.write(JSON.stringify({ id: null, ok: true, value: "ready" }) + "\n");
