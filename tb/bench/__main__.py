# SPDX-License-Identifier: MIT
"""python -m tb.bench (make bench): see tb.bench.cli."""

import sys

from tb.bench.cli import main

sys.exit(main())
