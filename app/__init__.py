"""o2o: the composition root (ASGI app, CLI) and the kernel in app.core."""
