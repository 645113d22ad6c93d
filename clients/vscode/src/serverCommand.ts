// Which program runs `aqe serve`, checked before the language client starts it, so a missing install
// becomes one clear message with the fix instead of a client that fails five times.
//
// Order: `aqe.path` (an aqe executable), `aqe.interpreter` (a Python with aqe installed, `-m aqe`),
// the Python extension's selected interpreter (when that extension is installed and aqe is importable
// there), then `aqe` on the PATH.
import { execFile } from "node:child_process";
import { constants as fsConstants, promises as fs } from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import { clientSetting } from "./settings";

export interface ServerCommand {
  command: string;
  args: string[];
  /** Where the choice came from, for the output and for messages. */
  origin: string;
}

/** A start-up problem the user can fix; `fix` says how. */
export class ServerNotFound extends Error {
  constructor(
    message: string,
    readonly fix: string,
    readonly settingToOpen: string = "aqe.path",
  ) {
    super(message);
  }
}

const IMPORT_CHECK_TIMEOUT_MS = 30_000;

export async function resolveServerCommand(scope?: vscode.Uri): Promise<ServerCommand> {
  const executable = clientSetting<string>("path", scope);
  if (executable) {
    const resolved = absolute(executable, scope) === executable && !path.isAbsolute(executable)
      ? ((await findOnPath(executable)) ?? executable)
      : absolute(executable, scope);
    if (!(await isExecutable(resolved))) {
      throw new ServerNotFound(
        `aqe.path is set to ${executable}, which is not an executable file.`,
        "Point aqe.path at the aqe executable (for example .venv/bin/aqe), or clear it to use a Python interpreter.",
      );
    }
    return { command: resolved, args: ["serve"], origin: "aqe.path" };
  }
  const interpreter = clientSetting<string>("interpreter", scope);
  if (interpreter) {
    const python = absolute(interpreter, scope);
    await checkImportable(python, "aqe.interpreter", "aqe.interpreter");
    return { command: python, args: ["-m", "aqe", "serve"], origin: "aqe.interpreter" };
  }
  const selected = await pythonExtensionInterpreter(scope);
  if (selected !== undefined) {
    const problem = await importProblem(selected);
    if (problem === undefined) {
      return { command: selected, args: ["-m", "aqe", "serve"], origin: "the Python extension's interpreter" };
    }
    const onPath = await findOnPath("aqe");
    if (onPath !== undefined) {
      return { command: onPath, args: ["serve"], origin: "PATH" };
    }
    throw new ServerNotFound(
      `aqe is not installed in the selected Python interpreter (${selected}): ${problem}`,
      `Install it there (${selected} -m pip install aqe), choose another interpreter, or set aqe.path.`,
      "aqe.interpreter",
    );
  }
  const onPath = await findOnPath("aqe");
  if (onPath !== undefined) {
    return { command: onPath, args: ["serve"], origin: "PATH" };
  }
  throw new ServerNotFound(
    "aqe was not found: aqe.path and aqe.interpreter are not set, no Python interpreter is selected, and there is no aqe on the PATH.",
    "Install aqe (python -m pip install aqe) and set aqe.path to its aqe executable, or aqe.interpreter to that Python.",
  );
}

async function checkImportable(python: string, origin: string, setting: string): Promise<void> {
  const problem = await importProblem(python);
  if (problem !== undefined) {
    throw new ServerNotFound(
      `${origin} is ${python}, but aqe cannot run there: ${problem}`,
      `Install aqe into that interpreter (${python} -m pip install aqe), or change ${setting}.`,
      setting,
    );
  }
}

/** Why `python -m aqe` would fail, or undefined when aqe imports. */
function importProblem(python: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(
      python,
      ["-c", "import aqe.cli"],
      { timeout: IMPORT_CHECK_TIMEOUT_MS, windowsHide: true },
      (error, _stdout, stderr) => {
        if (error === null) {
          resolve(undefined);
          return;
        }
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "EACCES") {
          resolve(`${python} cannot be run (${code})`);
          return;
        }
        const lastLine = stderr.trim().split(/\r?\n/).pop();
        resolve(lastLine || error.message);
      },
    );
  });
}

interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string } | undefined;
    resolveEnvironment(environment: { path: string } | string): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
    onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
  };
}

export const PYTHON_EXTENSION_ID = "ms-python.python";

async function pythonExtensionApi(): Promise<PythonExtensionApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION_ID);
  if (extension === undefined) {
    return undefined;
  }
  try {
    return extension.isActive ? extension.exports : await extension.activate();
  } catch {
    return undefined;
  }
}

/** The Python extension's active interpreter for the folder, or undefined (extension absent, nothing chosen). */
export async function pythonExtensionInterpreter(scope?: vscode.Uri): Promise<string | undefined> {
  const environments = (await pythonExtensionApi())?.environments;
  if (environments === undefined) {
    return undefined;
  }
  try {
    const active = environments.getActiveEnvironmentPath(scope);
    if (active === undefined) {
      return undefined;
    }
    const resolved = await environments.resolveEnvironment(active);
    return resolved?.executable.uri?.fsPath ?? active.path;
  } catch {
    return undefined;
  }
}

/** Fires when the user picks another interpreter in the Python extension. */
export async function onPythonInterpreterChange(listener: () => void): Promise<vscode.Disposable | undefined> {
  const event = (await pythonExtensionApi())?.environments?.onDidChangeActiveEnvironmentPath;
  return event?.(listener);
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) {
      return false;
    }
    await fs.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findOnPath(name: string): Promise<string | undefined> {
  const extensions = process.platform === "win32" ? [".exe", ".cmd", ""] : [""];
  for (const directory of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!directory) {
      continue;
    }
    for (const extension of extensions) {
      const candidate = path.join(directory, name + extension);
      if (await isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

/** `~` is the home folder; a relative path is relative to the workspace folder (`.venv/bin/aqe`). */
function absolute(file: string, scope?: vscode.Uri): string {
  if (file === "~" || file.startsWith("~/")) {
    return path.join(process.env.HOME ?? "", file.slice(1));
  }
  if (path.isAbsolute(file) || !file.includes("/")) {
    return file;
  }
  const folder = (scope && vscode.workspace.getWorkspaceFolder(scope)) ?? vscode.workspace.workspaceFolders?.[0];
  return folder ? path.join(folder.uri.fsPath, file) : file;
}
