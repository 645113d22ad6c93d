// The status bar item: what the model is doing (from the server's `aqe/status`) and the privacy mode.
import * as vscode from "vscode";

export const STATUS_NOTIFICATION = "aqe/status";

export interface ServerStatus {
  model: "loading" | "ready" | "busy" | "error" | "stopped";
  error?: string | null;
  privacyMode?: string;
  queued?: number;
  /** What contains project code on this machine; null until the server has checked. */
  sandbox?: { engine: string; contained: boolean; detail: string } | null;
}

const MODEL_ICONS: Record<ServerStatus["model"], string> = {
  loading: "$(loading~spin)",
  ready: "$(check)",
  busy: "$(sync~spin)",
  error: "$(error)",
  stopped: "$(circle-slash)",
};

const MODEL_WORDS: Record<ServerStatus["model"], string> = {
  loading: "model loading",
  ready: "model ready",
  busy: "model busy",
  error: "model error",
  stopped: "model not loaded",
};

/** The item's text and tooltip for a status; pure, so the wording is easy to check. */
export function describeStatus(status: ServerStatus): { text: string; tooltip: string } {
  const icon = MODEL_ICONS[status.model] ?? "$(question)";
  const privacy = status.privacyMode ? ` $(shield) ${status.privacyMode}` : "";
  const queued = status.queued ? ` (${status.queued} queued)` : "";
  const lines = [`aqe: ${MODEL_WORDS[status.model] ?? status.model}${queued}`];
  if (status.privacyMode) {
    lines.push(`privacy mode: ${status.privacyMode}`);
  }
  if (status.error) {
    lines.push(`error: ${status.error}`);
  }
  const uncontained = status.sandbox && !status.sandbox.contained;
  if (status.sandbox) {
    lines.push(`sandbox: ${status.sandbox.contained ? "" : "NOT CONTAINED: "}${status.sandbox.detail}`);
  }
  const warning = uncontained ? " $(warning) not contained" : "";
  return { text: `${icon} aqe${privacy}${warning}`, tooltip: lines.join("\n") };
}

export class StatusItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem("aqe.status", vscode.StatusBarAlignment.Right, 100);

  constructor() {
    this.item.name = "aqe";
    this.item.command = "aqe.showOutput";
    this.starting();
    this.item.show();
  }

  starting(): void {
    this.set("$(loading~spin) aqe", "aqe: starting the server", undefined);
  }

  show(status: ServerStatus): void {
    const { text, tooltip } = describeStatus(status);
    this.set(text, tooltip, status.model === "error" ? "statusBarItem.errorBackground" : undefined);
  }

  stopped(reason: string): void {
    this.set("$(error) aqe: stopped", `aqe: ${reason}\nClick to see the output.`, "statusBarItem.errorBackground");
  }

  private set(text: string, tooltip: string, background: string | undefined): void {
    this.item.text = text;
    this.item.tooltip = tooltip;
    this.item.backgroundColor = background ? new vscode.ThemeColor(background) : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
