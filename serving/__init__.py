"""Serving: Triton model repositories of trained runs, the server and its clients."""
