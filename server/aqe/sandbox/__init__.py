"""Running untrusted code (a project's tests, generated tests) in a contained subprocess.

`aqe.sandbox.runner` is the API; `aqe.sandbox.limits` is the exec wrapper it starts, kept free of
heavy imports because it runs before every sandboxed command.
"""
