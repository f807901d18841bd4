"""Entry point of the llama.cpp server that :class:`datamill.llm.serve.LocalServer` starts:
``python -m datamill.llm.llama_launch ARGS`` = ``python -m llama_cpp.server ARGS`` with llama.cpp's
"extra buffer types" (weight repacking for AMX and similar kernels) switched off.

Why: on machines whose CPU advertises Intel AMX but whose kernel or hypervisor does not grant
the tile registers (this project's CI machines among them), llama.cpp built with native CPU
flags crashes with a general-protection fault in ``ggml_backend_amx_mul_mat`` on the first
multi-token prompt. Without the extra buffer types the ordinary AVX2/AVX-512 kernels run
instead; for a small model the difference in speed is negligible. Set
``DATAMILL_LLAMA_EXTRA_BUFFERS=1`` to keep them (on a machine where AMX works).
"""

from __future__ import annotations

import os
import runpy


def _disable_extra_buffers() -> None:
    import llama_cpp.llama_cpp as lib

    original = lib.llama_model_default_params

    def params():
        p = original()
        p.use_extra_bufts = False
        return p

    lib.llama_model_default_params = params


def main() -> None:
    if os.environ.get("DATAMILL_LLAMA_EXTRA_BUFFERS") != "1":
        _disable_extra_buffers()
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
