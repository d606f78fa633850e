"""memio-server: the REST gateway over memio's stores (`memio.server.app.create_app`).

Run it with ``memio-server`` or ``python -m memio.server``; see docs/server.md.
"""
