"""The package version, in a module of its own so that submodules (pipeline) can record it
without importing the package `__init__` they are imported by."""

__version__ = "0.1.0"
