"""Coverage data: readers for coverage.py, Cobertura and LCOV, the workspace store, hints per
function, and measuring coverage in the sandbox. No LSP types here."""
