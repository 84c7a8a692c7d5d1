"""Shipped study definitions (the PRISM protocol)."""
