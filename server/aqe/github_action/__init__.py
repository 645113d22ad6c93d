"""The entry point of the GitHub Action (action.yml at the repository root): `python -m aqe.github_action`.

An edge like the command line, and built on it: each capability runs as the `aqe` command a person
would type (so the Action and a developer's terminal give the same answer by construction), and this
package only turns their reports into what a runner understands: a SARIF file for code scanning, a
Markdown job summary, `::error`/`::warning` annotations and step outputs. The runner's contract
(GITHUB_WORKSPACE, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_EVENT_PATH, INPUT_*) is read in one
place, `inputs.py`, so a local run with those variables set behaves exactly as on a runner.
"""
