"""Flaky tests: JUnit history, reruns in the sandbox, scoring with intervals, root-cause
classification, quarantine edits and explanations. No LSP types here."""
