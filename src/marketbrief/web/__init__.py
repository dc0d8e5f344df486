"""The HTTP face: app factory, API handlers, pages, error table, OpenAPI, middleware, metrics."""
