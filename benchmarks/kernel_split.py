"""fasthmm's functional API taken apart: every reference to fasthmm internals.

The kernel split times the steps of ``fasthmm.forward``, ``forward_backward``
and ``viterbi`` one by one, on the same kind of buffers the public calls use.
That needs private code (the workspace, the validation helper, the batch
kernels), and this module is the only place in ``benchmarks/`` that touches
it: when fasthmm's internals move, update this file alone.

Steps: ``validation`` (input checks; the NaN / +inf check of the
log-emissions is done by the kernels as they read them), ``recursion`` (the
forward pass of ``forward``, log-likelihoods only, exponentials included: no
frame is built), ``recursions`` (forward and backward passes of
``forward_backward``, exponentials included), and the Viterbi kernel of
``viterbi`` with its buffers.
"""

from __future__ import annotations

import numpy as np

from fasthmm import inference


def _starts(lengths):
    return np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)


def parts(operation, le, startprob, transmat, lengths):
    """``{step name: zero-argument callable}`` for one public function
    (``"forward"``, ``"forward_backward"`` or ``"viterbi"``) on these inputs."""
    sp, tm = startprob, transmat
    starts = _starts(lengths)

    def validation():
        return inference._check_inputs(le, sp, tm, lengths, scan=False)

    if operation == "forward":
        return {
            "validation": validation,
            "recursion": lambda: inference.direct_log_likelihoods(le, starts, sp, tm),
        }
    if operation == "forward_backward":
        return {
            "validation": validation,
            "recursions": lambda: inference.direct_posteriors(le, starts, sp, tm),
        }
    return {
        "validation": validation,
        "recursion": lambda: inference.viterbi_decode(le, sp, tm, starts),
    }
