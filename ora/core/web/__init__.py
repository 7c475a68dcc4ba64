"""The built-in aiohttp web server: /healthz, and the routes features add."""
