"""The model layer: the embedded default model, and (later) providers, router and queue."""
