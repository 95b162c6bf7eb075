"""``python -m bot``: same as the ``delete-org-bot`` console script."""

from bot.cli import main

raise SystemExit(main())
