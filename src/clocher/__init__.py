"""Clocher: the sovereign local cloud a département runs for its communes."""

__version__ = "0.1.0"
