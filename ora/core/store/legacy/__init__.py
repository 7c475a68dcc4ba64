"""The SQLite migrations of releases before schema components (user_version 1 to 3), kept to upgrade their files."""
