"""Activities: every piece of I/O the workflows need. Each one is safe to retry."""
