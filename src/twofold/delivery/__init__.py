"""Delivery channels: adapters of the core's `Channel` port (SMTP, Twilio, webhook, console).

`factory.build_channels(settings)` picks them from configuration; only `app.py` calls it.
"""
