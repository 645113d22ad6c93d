"""The workspace index: embedders, the HNSW vector store, the QE knowledge base, indexing."""
