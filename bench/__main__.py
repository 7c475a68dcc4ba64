"""`python -m bench [--quick]`: see bench/runner.py and bench/RESULTS.md."""

from bench.runner import main

raise SystemExit(main())
