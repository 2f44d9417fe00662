"""``python -m ssdzoo.cli``: the ``ssdzoo`` command."""

import sys

from ssdzoo.cli import main

sys.exit(main())
