"""The package version, read by hatchling at build time."""

#: The version of trio_engineio (PEP 440).
__version__ = "0.1.0.dev0"
