"""How reports and run history are written, kept and read. The one door is `Results`."""

from marketbrief.results.core import Results

__all__ = ["Results"]
