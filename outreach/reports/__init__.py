"""Compliance exports of a campaign (``outreach export``): docs/exports.md."""
