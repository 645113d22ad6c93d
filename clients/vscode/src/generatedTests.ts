// A generated test arrives as a workspace/applyEdit; VS Code applies it to an editor buffer and leaves it unsaved.
// The extension saves the test file right after (unless it already had unsaved changes of the user's), and tells
// the server it does so (initializationOptions `savesGeneratedTests`): the server then waits for the didSave and
// says "saved" only when it came.
import * as vscode from "vscode";
import { ApplyWorkspaceEditParams, ApplyWorkspaceEditRequest, ApplyWorkspaceEditResult } from "vscode-languageclient/node";

/** The label the server gives the edit of a generated test (server/aqe/lsp/features/testgen.py). */
export const GENERATED_TEST_LABEL = "aqe: test for ";
export const SAVES_GENERATED_TESTS = "savesGeneratedTests";

/** The files a generated-test edit writes to. */
export function generatedTestFiles(params: ApplyWorkspaceEditParams): string[] {
  if (!params.label?.startsWith(GENERATED_TEST_LABEL)) {
    return [];
  }
  const uris = (params.edit.documentChanges ?? []).map((change) =>
    "textDocument" in change ? change.textDocument.uri : "uri" in change ? change.uri : undefined,
  );
  return [...new Set(uris.filter((uri): uri is string => uri !== undefined))];
}

/** applyEdit middleware: apply, then save the test files that held no unsaved work of the user's before. */
export async function applyAndSave(
  params: ApplyWorkspaceEditParams,
  next: ApplyWorkspaceEditRequest.HandlerSignature,
): Promise<ApplyWorkspaceEditResult> {
  const files = generatedTestFiles(params);
  const dirty = new Set(
    vscode.workspace.textDocuments.filter((document) => document.isDirty).map((document) => document.uri.toString()),
  );
  const result = (await next(params, new vscode.CancellationTokenSource().token)) as ApplyWorkspaceEditResult;
  if (!result.applied) {
    return result;
  }
  for (const file of files) {
    const uri = vscode.Uri.parse(file);
    if (dirty.has(uri.toString())) {
      continue; // the user's own unsaved changes are theirs to save; the server will say "unsaved"
    }
    const document = vscode.workspace.textDocuments.find((open) => open.uri.toString() === uri.toString());
    await document?.save();
  }
  return result;
}
