"""Modem access: the `ModemDriver` seam, its python-gsmmodem-new implementation and pure reply parsers."""
