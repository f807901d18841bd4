"""Token log-probs of a text from a GGUF model run in-process by llama.cpp (``llama-cpp-python``).

Used by ``ifd_score`` with ``backend: local``. Why not the llama.cpp *server*: llama-cpp-python's
``/completions`` with ``echo`` returns, for each prompt token, the log-prob of that token under
the distribution computed *at its own position* rather than the one before it (measured here:
" capital of France is Paris." scores -9.6, -10.5, -11.2, -11.8, -8.5, -18.2 echoed against
-0.41, -2.52, -0.43, -0.26, -0.38 correctly), so perplexities from it are meaningless. vLLM's
``prompt_logprobs`` are right, and ``backend: server`` stays for such endpoints.
"""

from __future__ import annotations

import math
import os
import threading

import numpy as np

from datamill.llm.errors import ContextOverflow


class LocalLogprobs:
    def __init__(self, model_path: str | None = None, n_ctx: int = 2048, threads: int = 2):
        # OpenMP's busy-waiting is ~50x slower on a shared machine; read when llama.cpp loads
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from llama_cpp import Llama

        from datamill.llm.llama_launch import _disable_extra_buffers
        from datamill.llm.serve import default_model_path

        _disable_extra_buffers()  # see datamill.llm.llama_launch
        self.path = model_path or default_model_path()
        self.n_ctx = n_ctx
        self.model = Llama(self.path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                           logits_all=True, verbose=False)
        self._lock = threading.Lock()

    def span_nll(self, text: str, start: int, end: int) -> tuple[float, int]:
        """Mean negative log-prob of the tokens of ``text`` that start in characters
        [start, end), each predicted from everything before it; and their count."""
        data = text.encode("utf-8")
        b_start, b_end = len(text[:start].encode("utf-8")), len(text[:end].encode("utf-8"))
        m = self.model
        with self._lock:
            toks = m.tokenize(data, add_bos=False, special=True)
            if len(toks) > self.n_ctx:
                raise ContextOverflow(f"{len(toks)} tokens do not fit the {self.n_ctx}-token context of {self.path}")
            m.reset()
            m.eval(toks)
            scores = np.asarray(m.scores[: len(toks)], dtype=np.float64)
        offsets, pos = [], 0
        for t in toks:
            offsets.append(pos)
            pos += len(m.detokenize([t], special=True))
        picked = []
        for i in range(1, len(toks)):
            if b_start <= offsets[i] < b_end:
                row = scores[i - 1]
                top = row.max()
                picked.append(row[toks[i]] - top - math.log(np.exp(row - top).sum()))
        if not picked:
            raise ValueError("no answer token to score")
        return -float(np.mean(picked)), len(picked)
