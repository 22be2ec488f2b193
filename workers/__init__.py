"""Worker entry points and the Temporal client shared with the API."""
