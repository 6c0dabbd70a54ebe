"""`python -m rekey_cli`: the same as the `rekey` console script."""

from .entry import main

raise SystemExit(main())
