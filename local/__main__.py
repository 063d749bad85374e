"""`python -m local`: see local/cli.py."""

import sys

from local.cli import main

sys.exit(main())
