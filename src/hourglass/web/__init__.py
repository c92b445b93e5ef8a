"""The HTTP layer: FastAPI app factory, dependencies, the error table, routes, SSE and downloads."""
