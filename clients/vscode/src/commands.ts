// The editor commands: each one turns editor state into the server command's arguments, runs it with
// workspace/executeCommand, and shows the answer. Commands the running server does not offer say so.
import * as path from "node:path";
import * as vscode from "vscode";
import { LanguageClient, Location as LspLocation } from "vscode-languageclient/node";

export const SERVER_COMMANDS = {
  generateTest: "aqe.generateTest",
  reindex: "aqe.reindex",
  findRelatedTests: "aqe.findRelatedTests",
  showLearned: "aqe.showLearned",
  resetLearned: "aqe.resetLearned",
  exportState: "aqe.exportState",
  importState: "aqe.importState",
  privacyAudit: "aqe.privacyAudit",
} as const;

/** The extension's command that runs a server command and shows its answer. A code action from the server
 * names the server command, and vscode-languageclient runs that by sending the request and dropping the
 * answer (so "Find related tests" as a code action did nothing); such actions are routed here instead. */
export const SHOWN_BY_THE_EXTENSION: Readonly<Record<string, string>> = {
  [SERVER_COMMANDS.findRelatedTests]: "aqe.showRelatedTests",
};

/** A code action (or bare command) from the server, with a command whose answer must be shown rerouted to
 * the extension's own command, with the same arguments. */
export function routeToExtension<T extends vscode.Command | vscode.CodeAction>(action: T): T {
  const command = typeof action.command === "string" ? (action as vscode.Command) : action.command;
  const ours = command === undefined ? undefined : SHOWN_BY_THE_EXTENSION[command.command];
  if (command !== undefined && ours !== undefined) {
    command.command = ours;
  }
  return action;
}

/** `{uri, position}`: where a command applies, as the server's commands take it. */
export interface CodeLocation {
  uri: string;
  position: { line: number; character: number };
}

/** The part of `aqe.showLearned`'s answer the reset picker reads. */
interface LearnedAnswer {
  folders?: { subjects?: { subject: string; evidence?: string }[] }[];
}

/** The message for a server that lacks a command; the same words in every client. */
export function notProvidedMessage(serverCommand: string): string {
  return `This aqe server does not provide ${serverCommand} yet. Update aqe to use this command.`;
}

export interface ClientAccess {
  /** The running client, or undefined (with the reason already shown to the user). */
  running(): Promise<LanguageClient | undefined>;
}

export class Commands {
  constructor(private readonly access: ClientAccess) {}

  async generateTest(): Promise<void> {
    if (!vscode.workspace.isTrusted) {
      void vscode.window.showWarningMessage(
        "aqe: generating a test runs code from this workspace, so it is disabled until you trust the workspace.",
      );
      return;
    }
    const at = this.cursor();
    if (at === undefined) {
      return;
    }
    // Returns at once; the server reports $/progress and then sends workspace/applyEdit with the test.
    await this.run(SERVER_COMMANDS.generateTest, [at]);
  }

  async reindex(): Promise<void> {
    await this.run(SERVER_COMMANDS.reindex, []);
  }

  /** At the cursor (the palette), or where the server's code action says (its `{uri, position}` argument). */
  async findRelatedTests(from?: CodeLocation): Promise<void> {
    const at = from ?? this.cursor();
    if (at === undefined) {
      return;
    }
    const answer = await this.run<LspLocation[] | null>(SERVER_COMMANDS.findRelatedTests, [at]);
    if (answer === undefined) {
      return;
    }
    const client = await this.access.running();
    const locations = (answer ?? []).map((location) => client!.protocol2CodeConverter.asLocation(location));
    if (locations.length === 0) {
      void vscode.window.showInformationMessage("aqe: no related tests found for the code at the cursor.");
      return;
    }
    await vscode.commands.executeCommand(
      "editor.action.showReferences",
      vscode.Uri.parse(at.uri),
      new vscode.Position(at.position.line, at.position.character),
      locations,
    );
  }

  async showLearned(): Promise<void> {
    const answer = await this.run<unknown>(SERVER_COMMANDS.showLearned, []);
    if (answer !== undefined) {
      await showJson(answer);
    }
  }

  /** Pick a rule or convention from what was learned, then forget it (the server logs a reset). */
  async resetLearned(): Promise<void> {
    if (!(await this.provides(SERVER_COMMANDS.resetLearned))) {
      return;
    }
    const learned = await this.run<LearnedAnswer>(SERVER_COMMANDS.showLearned, []);
    if (learned === undefined) {
      return;
    }
    const items = (learned.folders ?? [])
      .flatMap((folder) => folder.subjects ?? [])
      .map((row) => ({ label: row.subject, description: row.evidence ?? "" }));
    if (items.length === 0) {
      void vscode.window.showInformationMessage("aqe: nothing has been learned yet.");
      return;
    }
    const picked = await vscode.window.showQuickPick(items, {
      title: "Reset what aqe learned about",
      placeHolder: "a rule or convention",
    });
    if (picked === undefined) {
      return;
    }
    if ((await this.run(SERVER_COMMANDS.resetLearned, [{ subject: picked.label }])) !== undefined) {
      void vscode.window.showInformationMessage(`aqe: forgot what was learned about ${picked.label}.`);
    }
  }

  async privacyAudit(): Promise<void> {
    const answer = await this.run<unknown>(SERVER_COMMANDS.privacyAudit, []);
    if (answer !== undefined) {
      await showJson(answer);
    }
  }

  async exportState(): Promise<void> {
    if (!(await this.provides(SERVER_COMMANDS.exportState))) {
      return;
    }
    const target = await vscode.window.showSaveDialog({
      title: "Export aqe's learning state",
      defaultUri: defaultStateUri(),
      filters: { "aqe learning state": ["json"] },
    });
    if (target === undefined) {
      return;
    }
    if ((await this.run(SERVER_COMMANDS.exportState, [{ path: target.fsPath }])) !== undefined) {
      void vscode.window.showInformationMessage(`aqe: learning state exported to ${target.fsPath}.`);
    }
  }

  async importState(): Promise<void> {
    if (!(await this.provides(SERVER_COMMANDS.importState))) {
      return;
    }
    const picked = await vscode.window.showOpenDialog({
      title: "Import aqe learning state",
      canSelectMany: false,
      filters: { "aqe learning state": ["json"] },
    });
    if (picked === undefined || picked.length === 0) {
      return;
    }
    if ((await this.run(SERVER_COMMANDS.importState, [{ path: picked[0].fsPath }])) !== undefined) {
      void vscode.window.showInformationMessage(`aqe: learning state imported from ${picked[0].fsPath}.`);
    }
  }

  /** `{uri, position}` of the cursor in the active editor, or undefined (and a message) without one. */
  private cursor(): CodeLocation | undefined {
    const editor = vscode.window.activeTextEditor;
    if (editor === undefined) {
      void vscode.window.showInformationMessage("aqe: open a file and put the cursor in a function first.");
      return undefined;
    }
    const position = editor.selection.active;
    return { uri: editor.document.uri.toString(), position: { line: position.line, character: position.character } };
  }

  private async provides(serverCommand: string): Promise<boolean> {
    const client = await this.access.running();
    if (client === undefined) {
      return false;
    }
    const offered = client.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
    if (!offered.includes(serverCommand)) {
      void vscode.window.showWarningMessage(`aqe: ${notProvidedMessage(serverCommand)}`);
      return false;
    }
    return true;
  }

  /** The command's result, or undefined when it could not run (the user has been told why). */
  private async run<T>(serverCommand: string, args: unknown[]): Promise<T | undefined> {
    if (!(await this.provides(serverCommand))) {
      return undefined;
    }
    const client = (await this.access.running())!;
    try {
      return (await client.sendRequest("workspace/executeCommand", { command: serverCommand, arguments: args })) as T;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      void vscode.window.showErrorMessage(`aqe: ${serverCommand} failed: ${reason}`);
      return undefined;
    }
  }
}

async function showJson(value: unknown): Promise<void> {
  const document = await vscode.workspace.openTextDocument({ language: "json", content: JSON.stringify(value, null, 2) });
  await vscode.window.showTextDocument(document, { preview: false });
}

function defaultStateUri(): vscode.Uri | undefined {
  const folder = vscode.workspace.workspaceFolders?.[0];
  return folder ? vscode.Uri.file(path.join(folder.uri.fsPath, "aqe-learning-state.json")) : undefined;
}
