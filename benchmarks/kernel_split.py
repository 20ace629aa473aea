"""fasthmm's functional API taken apart: every reference to fasthmm internals.

The kernel split times the steps of ``fasthmm.forward``, ``forward_backward``
and ``viterbi`` one by one, on the same kind of buffers the public calls use.
That needs private code (the workspace, the validation helper, the batch
kernels), and this module is the only place in ``benchmarks/`` that touches
it: when fasthmm's internals move, update this file alone.

Steps: ``validation`` (input checks), ``exp`` (log-emissions copied and
exponentiated into the workspace frame), ``recursion`` (the forward pass of
``forward``: log-likelihoods only), ``recursions`` (the E-step of
``forward_backward``), and the Viterbi kernel of ``viterbi``.
"""

from __future__ import annotations

import numpy as np

from fasthmm import inference
from fasthmm._kernels import hmm as kernels
from fasthmm._kernels.partition import block_bounds


def _starts(lengths):
    return np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)


def _loaded(le, lengths):
    ws = inference.Workspace(_starts(lengths), le.shape[1])
    ws.load_log_emissions(le)
    return ws


def parts(operation, le, startprob, transmat, lengths):
    """``{step name: zero-argument callable}`` for one public function
    (``"forward"``, ``"forward_backward"`` or ``"viterbi"``) on these inputs."""
    sp, tm = startprob, transmat
    if operation == "forward":
        ws = inference.Workspace(_starts(lengths), le.shape[1])
        loaded = _loaded(le, lengths)
        return {
            "validation": lambda: inference._check_inputs(le, sp, tm, lengths),
            "exp": lambda: ws.load_log_emissions(le),
            "recursion": lambda: inference.sequence_log_likelihoods(loaded, sp, tm),
        }
    if operation == "forward_backward":
        ws = inference.Workspace(_starts(lengths), le.shape[1])
        loaded = _loaded(le, lengths)
        return {
            "exp": lambda: ws.load_log_emissions(le),
            "recursions": lambda: inference.e_step(loaded, sp, tm),
        }
    n, k = le.shape
    starts = _starts(lengths)
    args = (le, np.log(sp), np.log(tm), starts, block_bounds(starts))
    out = (np.empty((n, k), np.int32), np.empty(n, np.int64), np.empty(len(lengths)))
    return {"recursion": lambda: kernels.viterbi_batch(*args, *out)}
