"""Benchmarks of the ORA bot against the local Discord emulator and fakes: `python -m bench` (see RESULTS.md)."""
