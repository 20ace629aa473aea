"""Workloads of the functional API: fasthmm.forward / forward_backward / viterbi.

The input is a log-emission matrix (random, fixed seed) with random dense
``startprob`` and ``transmat``: no emission model is involved, so the numbers
measure the inference kernels alone.

Besides the public calls, fasthmm's parts are timed one by one (operations
named ``"forward/exp"``, ``"forward/recursion"`` etc.) for the kernel split
table: validation, the exponentials of the log-emissions, the recursion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import fasthmm
from fasthmm import inference
from fasthmm._kernels import hmm as _kernels

from . import naive
from .registry import Workload, register, register_workload

WORKLOAD = "log-emissions"
SEED = 0
# The naive implementation is timed on this many sequences of the batch and
# its time scaled linearly to the whole batch.
NAIVE_SEQUENCES = 10


@dataclass
class LogEmissionData:
    log_emissions: np.ndarray  # (n_samples, K), C-contiguous float64
    startprob: np.ndarray
    transmat: np.ndarray
    lengths: np.ndarray  # int64

    @property
    def n_sequences(self):
        return self.lengths.shape[0]

    @property
    def n_samples(self):
        return self.log_emissions.shape[0]

    def subset(self, n):
        """The first ``n`` sequences."""
        if n >= self.n_sequences:
            return self
        lengths = self.lengths[:n]
        return LogEmissionData(
            np.ascontiguousarray(self.log_emissions[: int(lengths.sum())]),
            self.startprob,
            self.transmat,
            lengths,
        )

    def args(self):
        return self.log_emissions, self.startprob, self.transmat, self.lengths


def make(n_components, n_sequences, n_steps, seed=SEED):
    """Random log-emissions and a random dense model, reproducible."""
    rng = np.random.default_rng([seed, n_components])
    k = n_components
    log_emissions = rng.normal(-3.0, 2.0, size=(n_sequences * n_steps, k))
    startprob = rng.dirichlet(np.ones(k))
    transmat = rng.dirichlet(np.ones(k), size=k)
    lengths = np.full(n_sequences, n_steps, dtype=np.int64)
    return LogEmissionData(log_emissions, startprob, transmat, lengths)


def sizes(quick):
    if quick:
        return [
            {"n_components": k, "n_sequences": 10, "n_steps": 1000} for k in (4, 16)
        ]
    return [
        {"n_components": k, "n_sequences": 100, "n_steps": 1000} for k in (4, 16, 64)
    ]


def describe(params):
    return (
        f"K={params['n_components']}, {params['n_sequences']} sequences x "
        f"{params['n_steps']} steps"
    )


def flops(operation, params):
    """2 K^2 flops per step for the forward recursion (the matrix-vector product).

    Defined for the forward pass only (the whole call and its recursion
    kernel), as in SPEC.md; exponentials are not counted.
    """
    if operation in ("forward", "forward/recursion"):
        k = params["n_components"]
        return 2.0 * k * k * params["n_sequences"] * params["n_steps"]
    return None


def _rel(a, b):
    return abs(a - b) / max(1.0, abs(b))


def agree(operation, out, ref):
    """Largest discrepancy with the baseline (relative for log-likelihoods)."""
    if operation == "forward":
        return _rel(out, ref)
    if operation == "forward_backward":
        return max(_rel(out[0], ref[0]), float(np.max(np.abs(out[1] - ref[1]))))
    if operation == "viterbi":
        return max(_rel(out[0], ref[0]), float(np.mean(out[1] != ref[1])))
    return None


register_workload(
    Workload(
        name=WORKLOAD,
        description=(
            "functional API on random log-emission matrices, random dense "
            f"startprob/transmat, seed {SEED}"
        ),
        sizes=sizes,
        make=make,
        describe=describe,
        flops=flops,
        agree=agree,
        tolerance=1e-8,
        baseline="fasthmm",
    )
)


# --- fasthmm: the public calls ---------------------------------------------


@register(WORKLOAD, "forward", "fasthmm")
def _fasthmm_forward(data):
    args = data.args()
    return lambda: fasthmm.forward(*args)


@register(WORKLOAD, "forward_backward", "fasthmm")
def _fasthmm_forward_backward(data):
    args = data.args()
    return lambda: fasthmm.forward_backward(*args)


@register(WORKLOAD, "viterbi", "fasthmm")
def _fasthmm_viterbi(data):
    args = data.args()
    return lambda: fasthmm.viterbi(*args)


# --- naive NumPy -------------------------------------------------------------


@register(WORKLOAD, "forward", "naive", max_sequences=NAIVE_SEQUENCES)
def _naive_forward(data):
    args = data.args()
    return lambda: naive.forward(*args)


@register(WORKLOAD, "forward_backward", "naive", max_sequences=NAIVE_SEQUENCES)
def _naive_forward_backward(data):
    args = data.args()
    return lambda: naive.forward_backward(*args)


@register(WORKLOAD, "viterbi", "naive", max_sequences=NAIVE_SEQUENCES)
def _naive_viterbi(data):
    args = data.args()
    return lambda: naive.viterbi(*args)


# --- fasthmm's parts one by one (kernel split table) -------------------------
# Each part runs what the public call runs for that step, on the same kind of
# buffers, through the internal helpers of fasthmm.inference (thin wrappers of
# the kernels): "exp" is Workspace.load_log_emissions (copy + exponentials
# into the frame), "recursion" the forward recursion of forward()
# (sequence_log_likelihoods: log-likelihoods only), "recursions" the E-step of
# forward_backward() (e_step), and viterbi's the viterbi_batch kernel. They
# reach into private code on purpose, and follow it when it changes.


def _workspace(data):
    starts = np.concatenate(([0], np.cumsum(data.lengths))).astype(np.int64)
    return inference.Workspace(starts, data.log_emissions.shape[1])


def _loaded_workspace(data):
    ws = _workspace(data)
    ws.load_log_emissions(data.log_emissions)
    return ws


@register(WORKLOAD, "forward/validation", "fasthmm")
def _validation(data):
    args = data.args()
    return lambda: inference._check_inputs(*args)


@register(WORKLOAD, "forward/exp", "fasthmm")
@register(WORKLOAD, "forward_backward/exp", "fasthmm")
def _exp(data):
    ws = _workspace(data)
    le = data.log_emissions
    return lambda: ws.load_log_emissions(le)


@register(WORKLOAD, "forward/recursion", "fasthmm")
def _forward_recursion(data):
    ws = _loaded_workspace(data)
    sp, tm = data.startprob, data.transmat
    return lambda: inference.sequence_log_likelihoods(ws, sp, tm)


@register(WORKLOAD, "forward_backward/recursions", "fasthmm")
def _e_step(data):
    ws = _loaded_workspace(data)
    sp, tm = data.startprob, data.transmat
    return lambda: inference.e_step(ws, sp, tm)


@register(WORKLOAD, "viterbi/recursion", "fasthmm")
def _viterbi_recursion(data):
    le = data.log_emissions
    n, k = le.shape
    starts = np.concatenate(([0], np.cumsum(data.lengths))).astype(np.int64)
    blocks = inference.block_bounds(starts)
    log_start = np.log(data.startprob)
    log_trans = np.log(data.transmat)
    back = np.empty((n, k), dtype=np.int32)
    states = np.empty(n, dtype=np.int64)
    lp = np.empty(starts.shape[0] - 1)

    def run():
        _kernels.viterbi_batch(
            le, log_start, log_trans, starts, blocks, back, states, lp
        )

    return run
