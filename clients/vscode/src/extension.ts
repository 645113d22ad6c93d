// The aqe extension: starts `aqe serve` with vscode-languageclient, keeps its settings and workspace
// trust in step, and adds aqe's commands and status bar item. Feature logic stays in the server.
import { ChildProcess, spawn } from "node:child_process";
import * as vscode from "vscode";
import { DidChangeConfigurationNotification, LanguageClient, LanguageClientOptions, ServerOptions, State } from "vscode-languageclient/node";
import { CodeLocation, Commands, SHOWN_BY_THE_EXTENSION, routeToExtension } from "./commands";
import { SAVES_GENERATED_TESTS, applyAndSave } from "./generatedTests";
import { NotificationProgressFeature } from "./progress";
import { RestartingErrorHandler } from "./restarts";
import { ServerNotFound, onPythonInterpreterChange, pythonExtensionInterpreter, resolveServerCommand } from "./serverCommand";
import { warnAboutMisplacedSettings } from "./settingScopes";
import { RESTART_KEYS, SECTION, initializationOptions, serverKeys, serverSettings } from "./settings";
import { STATUS_NOTIFICATION, ServerStatus, StatusItem } from "./status";

export const LANGUAGES = ["python", "javascript", "javascriptreact", "typescript", "typescriptreact"];

class AqeExtension implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<LanguageClient | undefined> | undefined;
  private readonly output = vscode.window.createOutputChannel("aqe", { log: true });
  private readonly status = new StatusItem();
  private readonly errorHandler = new RestartingErrorHandler(
    this.output,
    () => this.status.stopped("the server kept crashing"),
    () => this.serverRan,
  );
  /** The running server process (ours: we spawn it, so its exit code and last words are known). */
  private serverProcess: ChildProcess | undefined;
  private stderrTail: string[] = [];
  /** Whether the server of the current start got as far as running (else it failed to start). */
  private serverRan = false;
  /** The Python extension's interpreter for the folder at this start (it runs the project's tests). */
  private editorPython: string | undefined;
  private readonly keys: string[];
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly context: vscode.ExtensionContext) {
    this.keys = serverKeys(context.extension.packageJSON);
  }

  async activate(): Promise<void> {
    const commands = new Commands({ running: () => this.running() });
    const register = (id: string, run: () => Promise<void>) =>
      this.disposables.push(vscode.commands.registerCommand(id, run));
    register("aqe.generateTestAtCursor", () => commands.generateTest());
    register("aqe.reindexWorkspace", () => commands.reindex());
    // Palette ids differ from the server's command ids: vscode-languageclient registers every command the
    // server advertises under its own id, and a second registration of one id fails the client's start.
    register("aqe.findRelatedTestsAtCursor", () => commands.findRelatedTests());
    this.disposables.push(
      vscode.commands.registerCommand(SHOWN_BY_THE_EXTENSION["aqe.findRelatedTests"], (at?: CodeLocation) =>
        commands.findRelatedTests(at),
      ),
    );
    register("aqe.showLearnedStandards", () => commands.showLearned());
    register("aqe.resetLearnedRule", () => commands.resetLearned());
    register("aqe.exportLearningState", () => commands.exportState());
    register("aqe.importLearningState", () => commands.importState());
    register("aqe.showPrivacyAudit", () => commands.privacyAudit());
    register("aqe.restartServer", () => this.restart("you asked for it"));
    register("aqe.showOutput", async () => this.output.show(true));
    await vscode.commands.executeCommand("setContext", "aqe.languages", LANGUAGES);

    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((event) => this.configurationChanged(event)),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.restart("the workspace is now trusted")),
    );
    const interpreterWatch = await onPythonInterpreterChange(() => this.restart("the Python interpreter changed"));
    if (interpreterWatch !== undefined) {
      this.disposables.push(interpreterWatch);
    }
    void this.start();
    void warnAboutMisplacedSettings(this.context, this.output);
  }

  /** The running client, starting it if needed; undefined (after telling the user why) when it cannot run. */
  async running(): Promise<LanguageClient | undefined> {
    if (this.client?.state === State.Running) {
      return this.client;
    }
    const client = await (this.starting ?? this.start());
    if (client === undefined) {
      return undefined; // it could not start, and cannotStart() has said why
    }
    if (client.state !== State.Running) {
      void vscode.window.showErrorMessage("aqe: the server is not running. See the aqe output, then run 'aqe: Restart Server'.");
      return undefined;
    }
    return client;
  }

  private start(): Promise<LanguageClient | undefined> {
    this.starting ??= this.startClient().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async startClient(): Promise<LanguageClient | undefined> {
    if (this.client !== undefined && this.client.state === State.Starting) {
      await this.client.start().catch(() => undefined); // a restart under way: wait for it
    }
    if (this.client !== undefined && this.client.state !== State.Stopped) {
      return this.client;
    }
    await this.client?.dispose().catch(() => undefined); // a stopped client (crashed, or failed to start)
    this.client = undefined;
    this.status.starting();
    const scope = vscode.workspace.workspaceFolders?.[0]?.uri;
    let server;
    try {
      server = await resolveServerCommand(scope);
    } catch (error) {
      this.cannotStart(error);
      return undefined;
    }
    this.output.info(`starting ${server.command} ${server.args.join(" ")} (from ${server.origin})`);
    this.editorPython = await pythonExtensionInterpreter(scope); // absent extension: undefined, quietly
    if (this.editorPython !== undefined) {
      this.output.info(`the project's tests run with the Python extension's interpreter ${this.editorPython}`);
    }
    const serverOptions: ServerOptions = async () => {
      const child = spawn(server.command, server.args, {
        cwd: scope?.fsPath,
        env: process.env,
        stdio: "pipe",
        windowsHide: true,
      });
      this.serverProcess = child;
      this.stderrTail = [];
      child.stderr.on("data", (chunk: Buffer) => this.rememberStderr(chunk.toString()));
      child.on("error", (error) => this.rememberStderr(error.message)); // it could not be run at all
      return child;
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: LANGUAGES.map((language) => ({ scheme: "file", language })),
      outputChannel: this.output,
      errorHandler: this.errorHandler,
      // A failed initialize is reported once, by cannotStart(), with the server's own last words.
      initializationFailedHandler: () => false,
      initializationOptions: () => ({
        ...initializationOptions(this.keys, vscode.workspace.isTrusted, scope, this.editorPython),
        [SAVES_GENERATED_TESTS]: true,
      }),
      middleware: {
        // A code action whose command answers with something to show runs the extension's command instead.
        provideCodeActions: async (document, range, context, token, next) =>
          (await next(document, range, context, token))?.map(routeToExtension),
        workspace: {
          handleApplyEdit: applyAndSave,
          // The server asks for section "aqe"; answer with the same user/workspace split as at start-up.
          configuration: (params, token, next) => {
            const ours = params.items.map((item) => item.section === SECTION);
            if (!ours.some(Boolean)) {
              return next(params, token);
            }
            return params.items.map((item) =>
              item.section === SECTION
                ? serverSettings(
                    this.keys,
                    vscode.workspace.isTrusted,
                    item.scopeUri ? vscode.Uri.parse(item.scopeUri) : scope,
                    this.editorPython,
                  )
                : null,
            );
          },
        },
      },
    };
    const client = new LanguageClient("aqe", "aqe", serverOptions, clientOptions);
    client.registerFeature(new NotificationProgressFeature(client));
    client.onNotification(STATUS_NOTIFICATION, (status: ServerStatus) => this.status.show(status));
    client.onDidChangeState((change) => {
      if (change.newState === State.Stopped) {
        this.status.stopped("the server is not running");
      } else if (change.newState === State.Starting) {
        this.serverRan = false;
        this.status.starting();
      } else if (change.newState === State.Running) {
        this.serverRan = true;
      }
    });
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      this.cannotStart(await this.startFailure(error));
      return undefined;
    }
    this.output.info(`aqe server running (pid ${this.serverProcess?.pid ?? "unknown"})`);
    return client;
  }

  private rememberStderr(text: string): void {
    const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "");
    this.stderrTail = [...this.stderrTail, ...lines].slice(-20);
  }

  /** Why the server failed to start, in the words of its exit code and last line on stderr. */
  private async startFailure(error: unknown): Promise<Error> {
    const child = this.serverProcess;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 2000);
        child.once("exit", () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
    }
    const lastWords = this.stderrTail.at(-1);
    if (child === undefined || (child.exitCode === null && child.signalCode === null)) {
      return error instanceof Error ? error : new Error(String(error));
    }
    const how = child.signalCode ? `it was killed by ${child.signalCode}` : `it exited with code ${child.exitCode}`;
    return new Error(`${how}${lastWords ? `: ${lastWords}` : ""}`);
  }

  private cannotStart(error: unknown): void {
    const detail = error instanceof Error ? error.message : String(error);
    this.status.stopped(detail);
    this.output.error(`the server could not start: ${detail}`);
    if (error instanceof ServerNotFound) {
      void vscode.window.showErrorMessage(`aqe: ${error.message} ${error.fix}`, "Open Settings", "Show Output").then((choice) => {
        if (choice === "Open Settings") {
          void vscode.commands.executeCommand("workbench.action.openSettings", error.settingToOpen);
        } else if (choice === "Show Output") {
          this.output.show(true);
        }
      });
      return;
    }
    void vscode.window
      .showErrorMessage(
        `aqe: the server failed to start: ${detail}. See the aqe output for its log; check aqe.path / aqe.interpreter.`,
        "Show Output",
        "Open Settings",
      )
      .then((choice) => {
        if (choice === "Show Output") {
          this.output.show(true);
        } else if (choice === "Open Settings") {
          void vscode.commands.executeCommand("workbench.action.openSettings", "aqe.path");
        }
      });
  }

  async restart(reason: string): Promise<void> {
    this.output.info(`restarting the server: ${reason}`);
    this.errorHandler.budget.reset();
    await this.starting;
    const client = this.client;
    this.client = undefined;
    if (client !== undefined && client.state !== State.Stopped) {
      try {
        await client.stop();
      } catch (error) {
        this.output.warn(`stopping the old server: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    await client?.dispose().catch(() => undefined);
    this.killLingeringServer();
    await this.start();
  }

  private configurationChanged(event: vscode.ConfigurationChangeEvent): void {
    if (!event.affectsConfiguration(SECTION)) {
      return;
    }
    if (RESTART_KEYS.some((key) => event.affectsConfiguration(`${SECTION}.${key}`))) {
      void this.restart("the server executable setting changed");
      return;
    }
    const client = this.client;
    if (client?.state === State.Running) {
      const scope = vscode.workspace.workspaceFolders?.[0]?.uri;
      const settings = serverSettings(this.keys, vscode.workspace.isTrusted, scope, this.editorPython);
      void client.sendNotification(DidChangeConfigurationNotification.type, { settings: { [SECTION]: settings } });
    }
  }

  /** After a stop the server exits by itself (shutdown, exit); one that hangs is killed. */
  private killLingeringServer(): void {
    const child = this.serverProcess;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      child.once("exit", () => clearTimeout(timer));
    }
  }

  async dispose(): Promise<void> {
    for (const disposable of this.disposables) {
      disposable.dispose();
    }
    await this.client?.stop().catch(() => undefined);
    this.killLingeringServer();
    this.status.dispose();
    this.output.dispose();
  }
}

let extension: AqeExtension | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  extension = new AqeExtension(context);
  context.subscriptions.push({ dispose: () => void extension?.dispose() });
  await extension.activate();
}

export async function deactivate(): Promise<void> {
  await extension?.dispose();
  extension = undefined;
}
