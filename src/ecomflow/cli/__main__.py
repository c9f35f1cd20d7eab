"""``python -m ecomflow.cli`` runs the command line, as ``python -m ecomflow`` does."""

from .main import main

raise SystemExit(main())
