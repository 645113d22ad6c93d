"""Running untrusted code (a project's tests, generated tests) in a contained subprocess.

`aqe.sandbox.runner` is the API. The box is built by bubblewrap or, without it, by
`aqe.sandbox.confine`; `aqe.sandbox.stage` supervises the command inside it. Those two are started
as scripts before every sandboxed command, so they import only the standard library.
"""
