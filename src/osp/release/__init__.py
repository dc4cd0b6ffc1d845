"""Golden agent image: build, tag, list."""
