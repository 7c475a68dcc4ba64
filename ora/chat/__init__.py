"""/chat building blocks free of Discord: concurrency limits, edit pacing, conversation assembly."""
