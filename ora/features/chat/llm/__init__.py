"""The client of OpenAI-compatible chat servers: streaming, reasoning filtering, what servers publish."""
