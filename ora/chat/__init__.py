"""/chat building blocks free of Discord: concurrency limits, edit pacing, conversation assembly, answer caps,
the context budget and the models a user may pick."""
