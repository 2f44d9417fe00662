"""``python -m ssdzoo …``: the ``ssdzoo`` command."""

import sys

from ssdzoo.cli import main

sys.exit(main())
