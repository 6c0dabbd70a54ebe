"""`python -m rekey`: the same as the `rekey` console script."""

from .cli import main

raise SystemExit(main())
