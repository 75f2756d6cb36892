"""``python -m toolkit`` runs the ``combined-models`` command line."""

from toolkit.cli import main

raise SystemExit(main())
