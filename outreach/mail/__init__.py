"""Outgoing mail: composing, rendering templates, delivering."""
