"""``python -m satchel``."""

import sys

from satchel.cli import main

sys.exit(main())
