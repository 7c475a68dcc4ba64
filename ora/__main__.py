"""`python -m ora` runs the bot."""

from ora.app import main

raise SystemExit(main())
