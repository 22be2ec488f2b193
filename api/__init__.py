"""The HTTP front door: FastAPI app, routes, schemas and the small Temporal client module."""
