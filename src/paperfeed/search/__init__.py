"""Finding papers: query parsing, the keyword index (tantivy, BM25), and later the vector
index and fusion. Search indexes are derived data: they catch up from the store's change
numbers and can always be rebuilt from it."""
