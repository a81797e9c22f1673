"""Getting papers in: one module per source. `parse_*` functions are pure; `fetch_*` and
`import_*` functions do I/O and hand `Paper`s to the store."""
