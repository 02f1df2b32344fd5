"""The web server: app factory, dependencies, middleware, and the one place errors become responses."""
