// Machine settings (`"scope": "machine"` in package.json: what runs, where code is sent) count only in the user's
// own settings (in a remote window such as code-server, its Remote settings). Set in a workspace's
// .vscode/settings.json, VS Code drops them without a word and the server never sees them; this finds them and
// says where they belong. The file is read directly because VS Code's configuration API never shows a dropped
// value.
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { parse } from "jsonc-parser";
import * as vscode from "vscode";
import { SECTION } from "./settings";

/** A machine setting found where this window ignores it. */
export interface MisplacedSetting {
  key: string;
  /** The settings file it was found in, as a person names it. */
  where: string;
}

export const OPEN_REMOTE_SETTINGS = "Open Remote Settings";
export const OPEN_USER_SETTINGS = "Open User Settings";

/** The `aqe.*` keys package.json declares with machine scope. */
export function machineKeys(packageJson: unknown): string[] {
  const configuration = (packageJson as { contributes?: { configuration?: unknown } }).contributes?.configuration;
  const categories = Array.isArray(configuration) ? configuration : [configuration];
  const keys: string[] = [];
  for (const category of categories) {
    const properties = (category as { properties?: Record<string, { scope?: string }> } | undefined)?.properties ?? {};
    for (const [name, schema] of Object.entries(properties)) {
      if (name.startsWith(`${SECTION}.`) && schema.scope === "machine") {
        keys.push(name);
      }
    }
  }
  return keys;
}

/** The machine keys set in a settings file (JSON with comments), or none when it cannot be read. */
export async function keysSetIn(file: string, keys: readonly string[]): Promise<string[]> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch {
    return [];
  }
  const settings = parse(text, [], { allowTrailingComma: true }) as Record<string, unknown> | undefined;
  return keys.filter((key) => settings !== undefined && settings !== null && settings[key] !== undefined);
}

/** Machine settings this window ignores: those in a folder's .vscode/settings.json. */
export async function misplacedSettings(context: vscode.ExtensionContext): Promise<MisplacedSetting[]> {
  const keys = machineKeys(context.extension.packageJSON);
  const found: MisplacedSetting[] = [];
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    const file = path.join(folder.uri.fsPath, ".vscode", "settings.json");
    for (const key of await keysSetIn(file, keys)) {
      found.push({ key, where: `the workspace settings of ${folder.name} (.vscode/settings.json)` });
    }
  }
  return found;
}

/** One message for all of them, fit for a notification: which keys, where they are, where they belong. */
export function misplacedMessage(found: readonly MisplacedSetting[], remote: boolean): string {
  const belongs = remote ? "the Remote settings of this window" : "your User settings";
  const places = [...new Set(found.map((entry) => entry.where))].join(" and ");
  const keys = found.map((entry) => entry.key).join(", ");
  const verb = found.length === 1 ? "is a machine setting" : "are machine settings";
  return `aqe: ${keys} ${verb}, ignored in ${places}; set ${found.length === 1 ? "it" : "them"} in ${belongs}.`;
}

/** Say so once per activation (and again when the settings change and something is still misplaced). */
export async function warnAboutMisplacedSettings(context: vscode.ExtensionContext, output: vscode.LogOutputChannel): Promise<void> {
  const found = await misplacedSettings(context);
  if (found.length === 0) {
    return;
  }
  const remote = vscode.env.remoteName !== undefined;
  const message = misplacedMessage(found, remote);
  output.warn(message);
  const open = remote ? OPEN_REMOTE_SETTINGS : OPEN_USER_SETTINGS;
  const choice = await vscode.window.showWarningMessage(message, open);
  if (choice === OPEN_REMOTE_SETTINGS) {
    await vscode.commands.executeCommand("workbench.action.openRemoteSettings");
  } else if (choice === OPEN_USER_SETTINGS) {
    await vscode.commands.executeCommand("workbench.action.openSettings", SECTION);
  }
}
