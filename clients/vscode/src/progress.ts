// Server-initiated `$/progress` as VS Code notifications, with a Cancel button when the server allows it.
//
// vscode-languageclient shows work-done progress only in the status bar (ProgressLocation.Window), where
// there is no cancel button and model loading, indexing or test generation is easy to miss. This feature
// is registered after the built-in one and takes over `window/workDoneProgress/create`; the protocol is
// unchanged (cancel sends `window/workDoneProgress/cancel`, exactly as the built-in part does).
import * as vscode from "vscode";
import {
  BaseLanguageClient,
  ClientCapabilities,
  Disposable,
  FeatureState,
  ProgressToken,
  StaticFeature,
  WorkDoneProgress,
  WorkDoneProgressBegin,
  WorkDoneProgressCancelNotification,
  WorkDoneProgressCreateParams,
  WorkDoneProgressCreateRequest,
  WorkDoneProgressReport,
} from "vscode-languageclient";

export class NotificationProgressFeature implements StaticFeature {
  private readonly active = new Set<NotificationProgress>();
  private handler: Disposable | undefined;

  constructor(private readonly client: BaseLanguageClient) {}

  getState(): FeatureState {
    return { kind: "static" };
  }

  fillClientCapabilities(capabilities: ClientCapabilities): void {
    capabilities.window = { ...capabilities.window, workDoneProgress: true };
  }

  initialize(): void {
    this.handler?.dispose();
    this.handler = this.client.onRequest(WorkDoneProgressCreateRequest.type, (params: WorkDoneProgressCreateParams) => {
      const part = new NotificationProgress(this.client, params.token, () => this.active.delete(part));
      this.active.add(part);
    });
  }

  clear(): void {
    for (const part of this.active) {
      part.done();
    }
    this.active.clear();
    this.handler?.dispose();
    this.handler = undefined;
  }
}

class NotificationProgress {
  private listener: Disposable | undefined;
  private progress: vscode.Progress<{ message?: string; increment?: number }> | undefined;
  private finish: (() => void) | undefined;
  private reported = 0;

  constructor(
    private readonly client: BaseLanguageClient,
    private readonly token: ProgressToken,
    private readonly onDone: () => void,
  ) {
    this.listener = client.onProgress(WorkDoneProgress.type, token, (value) => {
      if (value.kind === "begin") {
        this.begin(value);
      } else if (value.kind === "report") {
        this.report(value);
      } else {
        this.done();
      }
    });
  }

  private begin(value: WorkDoneProgressBegin): void {
    const options = {
      location: vscode.ProgressLocation.Notification,
      title: value.title,
      cancellable: value.cancellable === true,
    };
    void vscode.window.withProgress(options, (progress, cancellation) => {
      if (this.listener === undefined) {
        return Promise.resolve(); // ended before VS Code showed it
      }
      this.progress = progress;
      cancellation.onCancellationRequested(() => {
        void this.client.sendNotification(WorkDoneProgressCancelNotification.type, { token: this.token });
      });
      this.report(value);
      return new Promise<void>((resolve) => {
        this.finish = resolve;
      });
    });
  }

  private report(value: WorkDoneProgressBegin | WorkDoneProgressReport): void {
    if (this.progress === undefined) {
      return;
    }
    if (typeof value.percentage === "number") {
      const percentage = Math.max(0, Math.min(value.percentage, 100));
      const increment = Math.max(0, percentage - this.reported);
      this.reported += increment;
      this.progress.report({ message: value.message, increment });
    } else if (value.message !== undefined) {
      this.progress.report({ message: value.message });
    }
  }

  done(): void {
    this.listener?.dispose();
    this.listener = undefined;
    this.finish?.();
    this.finish = undefined;
    this.progress = undefined;
    this.onDone();
  }
}
