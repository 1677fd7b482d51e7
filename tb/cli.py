# SPDX-License-Identifier: MIT
"""Command-line pieces shared by `make sim` and `make bench`: bad options end in one
readable line and exit status 2."""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``splitrx <tool>: ...``, exit 2."""

    def __init__(self, *args: Any, tool: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tool = tool

    def error(self, message: str) -> NoReturn:
        print(f"splitrx {self.tool}: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def positive(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value
