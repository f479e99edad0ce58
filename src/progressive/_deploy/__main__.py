"""``python -m progressive._deploy --write deploy/`` (or ``--check deploy/``)."""

from ._files import main

raise SystemExit(main())
