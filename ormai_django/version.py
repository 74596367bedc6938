"""The package's version (a leaf: surfaces that print it need nothing else)."""

__version__ = "0.1.0"
