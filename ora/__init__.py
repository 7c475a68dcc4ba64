"""ORA bot: a hikari + lightbulb Discord bot for communities that run their own LLM."""

__version__ = "0.1.0"
