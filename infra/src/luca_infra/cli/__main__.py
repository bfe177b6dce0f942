"""``python -m luca_infra.cli``: the ``luca`` command without its console script."""

import sys

from luca_infra.cli import main

sys.exit(main())
