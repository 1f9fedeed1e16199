"""Twofold: a self-hostable server that speaks Auth0's Multi-factor Authentication API."""

__version__ = "0.1.0"
