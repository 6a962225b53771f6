"""``python -m kalshid``: the same as the ``kalshid`` console script."""

import sys

from kalshid.cli import main

sys.exit(main())
