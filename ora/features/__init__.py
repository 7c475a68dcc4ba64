"""The bot's features: one folder each (see ora.core.feature)."""
