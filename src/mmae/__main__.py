"""``python -m mmae``."""

import sys

from mmae.cli.main import main

sys.exit(main())
