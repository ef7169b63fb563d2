"""core: paths, the column schema and status vocabulary, errors, system readers, template data."""
