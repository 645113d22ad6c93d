"""tree-sitter parsing: languages, positions, incremental documents and code units."""
