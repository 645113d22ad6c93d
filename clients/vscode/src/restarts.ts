// What happens when the server process dies: restart it a bounded number of times, and say so.
//
// vscode-languageclient's default handler restarts silently and gives up after 5 crashes in 3 minutes
// with a generic message; a user then sees diagnostics vanish without knowing why. This one tells the
// user each time, names the limit, and after the limit leaves the server stopped with a way back.
import * as vscode from "vscode";
import { CloseAction, CloseHandlerResult, ErrorAction, ErrorHandler, ErrorHandlerResult, Message } from "vscode-languageclient";

export const MAX_RESTARTS = 3;
export const RESTART_WINDOW_MS = 3 * 60 * 1000;

/** The pure part: given crash times, restart or not. */
export class RestartBudget {
  private crashes: number[] = [];

  constructor(
    readonly maxRestarts: number = MAX_RESTARTS,
    readonly windowMs: number = RESTART_WINDOW_MS,
  ) {}

  /** Records a crash at `now`; the 1-based number of this restart, or undefined when the budget is spent. */
  crashed(now: number): number | undefined {
    this.crashes = this.crashes.filter((time) => now - time < this.windowMs);
    this.crashes.push(now);
    return this.crashes.length <= this.maxRestarts ? this.crashes.length : undefined;
  }

  reset(): void {
    this.crashes = [];
  }
}

export class RestartingErrorHandler implements ErrorHandler {
  readonly budget = new RestartBudget();

  constructor(
    private readonly output: vscode.OutputChannel,
    private readonly onGaveUp: () => void,
    /** False while the server has not yet finished starting: then it failed to start, it did not crash. */
    private readonly serverRan: () => boolean,
  ) {}

  error(_error: Error, _message: Message | undefined, count: number | undefined): ErrorHandlerResult {
    // A write or read error on the pipe (logged, not shown): keep going a few times; when the process is
    // gone the close handler follows and decides. A server still starting gets no popups of its own here:
    // the extension reports its failure once, with the server's own last words.
    if (!this.serverRan() || (count !== undefined && count <= 3)) {
      return { action: ErrorAction.Continue, handled: true };
    }
    return { action: ErrorAction.Shutdown };
  }

  closed(): CloseHandlerResult {
    if (!this.serverRan()) {
      // Restarting a server that cannot start only repeats the failure; the extension says why instead.
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    const attempt = this.budget.crashed(Date.now());
    if (attempt !== undefined) {
      const message = `aqe: the server stopped unexpectedly; restarting it (restart ${attempt} of ${MAX_RESTARTS}).`;
      this.output.appendLine(message);
      void vscode.window.showWarningMessage(message, "Show Output").then((choice) => {
        if (choice === "Show Output") {
          this.output.show(true);
        }
      });
      return { action: CloseAction.Restart, handled: true };
    }
    const minutes = RESTART_WINDOW_MS / 60_000;
    const message =
      `aqe: the server stopped ${MAX_RESTARTS + 1} times in ${minutes} minutes and will not be restarted. ` +
      "See the aqe output for why, then run 'aqe: Restart Server'.";
    this.output.appendLine(message);
    this.onGaveUp();
    void vscode.window.showErrorMessage(message, "Show Output", "Restart Server").then((choice) => {
      if (choice === "Show Output") {
        this.output.show(true);
      } else if (choice === "Restart Server") {
        void vscode.commands.executeCommand("aqe.restartServer");
      }
    });
    return { action: CloseAction.DoNotRestart, handled: true };
  }
}
