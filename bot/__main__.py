"""`python -m bot` is the `clusterbot` command."""

import sys

from bot.cli import main

sys.exit(main())
