"""`python -m codegend` runs the same CLI as the `codegend` console script."""

from codegend.daemon.cli.main import main

raise SystemExit(main())
