"""The floor: ``python -m benchmarks --floor``.

Straightforward parallel Numba forward, forward-backward (posteriors) and
Viterbi over sequences, with the exponentials inline and no validation, no
workspace and no handling of underflow: what a user could write in an
afternoon. fasthmm's public functions do more (checks, max-shifted frames,
expected transition counts, results independent of the thread count), and
the ratio fasthmm / floor shows what that costs, for small K (where fixed
costs rule) and on small data.
"""

from __future__ import annotations

import statistics

import numpy as np
from numba import njit, prange

KS = (2, 4, 8, 16, 32, 64)
SIZES = ((100, 1000), (10, 100))


@njit(cache=True, parallel=True)
def floor_forward(log_emissions, startprob, transmat, starts, ll):
    n_seq = starts.shape[0] - 1
    k = log_emissions.shape[1]
    for s in prange(n_seq):
        alpha = np.empty(k)
        nxt = np.empty(k)
        total = 0.0
        for t in range(starts[s], starts[s + 1]):
            m = log_emissions[t].max()
            c = 0.0
            for j in range(k):
                if t == starts[s]:
                    v = startprob[j]
                else:
                    v = 0.0
                    for i in range(k):
                        v += alpha[i] * transmat[i, j]
                v *= np.exp(log_emissions[t, j] - m)
                nxt[j] = v
                c += v
            for j in range(k):
                alpha[j] = nxt[j] / c
            total += np.log(c) + m
        ll[s] = total


@njit(cache=True, parallel=True)
def floor_forward_backward(log_emissions, startprob, transmat, starts, post, ll):
    n_seq = starts.shape[0] - 1
    k = log_emissions.shape[1]
    for s in prange(n_seq):
        lo, hi = starts[s], starts[s + 1]
        total = 0.0
        for t in range(lo, hi):
            m = log_emissions[t].max()
            c = 0.0
            for j in range(k):
                if t == lo:
                    v = startprob[j]
                else:
                    v = 0.0
                    for i in range(k):
                        v += post[t - 1, i] * transmat[i, j]
                v *= np.exp(log_emissions[t, j] - m)
                post[t, j] = v
                c += v
            for j in range(k):
                post[t, j] /= c
            total += np.log(c) + m
        ll[s] = total
        beta = np.ones(k)
        work = np.empty(k)
        for t in range(hi - 2, lo - 1, -1):
            m = log_emissions[t + 1].max()
            for j in range(k):
                work[j] = np.exp(log_emissions[t + 1, j] - m) * beta[j]
            b_max = 0.0
            for i in range(k):
                v = 0.0
                for j in range(k):
                    v += transmat[i, j] * work[j]
                beta[i] = v
                b_max = max(b_max, v)
            z = 0.0
            for i in range(k):
                beta[i] /= b_max
                z += post[t, i] * beta[i]
            for i in range(k):
                post[t, i] = post[t, i] * beta[i] / z


@njit(cache=True, parallel=True)
def floor_viterbi(log_emissions, log_startprob, log_transmat, starts, back, states, lp):
    n_seq = starts.shape[0] - 1
    k = log_emissions.shape[1]
    for s in prange(n_seq):
        lo, hi = starts[s], starts[s + 1]
        delta = np.empty(k)
        nxt = np.empty(k)
        for j in range(k):
            delta[j] = log_startprob[j] + log_emissions[lo, j]
        for t in range(lo + 1, hi):
            for j in range(k):
                best, arg = -np.inf, 0
                for i in range(k):
                    v = delta[i] + log_transmat[i, j]
                    if v > best:
                        best, arg = v, i
                nxt[j] = best + log_emissions[t, j]
                back[t, j] = arg
            delta[:] = nxt
        state = np.argmax(delta)
        lp[s] = delta[state]
        states[hi - 1] = state
        for t in range(hi - 1, lo, -1):
            state = back[t, state]
            states[t - 1] = state


def _problem(k, n_seq, n_steps, seed=0):
    rng = np.random.default_rng(seed)
    le = rng.normal(scale=3.0, size=(n_seq * n_steps, k))
    startprob = np.full(k, 1.0 / k)
    transmat = rng.dirichlet(np.full(k, 3.0), size=k)
    lengths = np.full(n_seq, n_steps)
    return le, startprob, transmat, lengths


def _calls(le, sp, tm, lengths):
    """name -> (fasthmm call, floor call, compare(fasthmm result, floor result))."""
    import fasthmm

    n, k = le.shape
    starts = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    log_sp, log_tm = np.log(sp), np.log(tm)

    def floor_fw():
        ll = np.empty(len(lengths))
        floor_forward(le, sp, tm, starts, ll)
        return ll.sum()

    def floor_fb():
        post, ll = np.empty((n, k)), np.empty(len(lengths))
        floor_forward_backward(le, sp, tm, starts, post, ll)
        return ll.sum(), post

    def floor_vit():
        back = np.empty((n, k), dtype=np.int64)
        states, lp = np.empty(n, dtype=np.int64), np.empty(len(lengths))
        floor_viterbi(le, log_sp, log_tm, starts, back, states, lp)
        return lp.sum(), states

    return {
        "forward": (
            lambda: fasthmm.forward(le, sp, tm, lengths),
            floor_fw,
            lambda a, b: np.isclose(a, b, rtol=1e-9),
        ),
        "forward_backward": (
            lambda: fasthmm.forward_backward(le, sp, tm, lengths),
            floor_fb,
            lambda a, b: (
                np.isclose(a[0], b[0], rtol=1e-9) and np.allclose(a[1], b[1], atol=1e-8)
            ),
        ),
        "viterbi": (
            lambda: fasthmm.viterbi(le, sp, tm, lengths),
            floor_vit,
            lambda a, b: np.isclose(a[0], b[0], rtol=1e-9),
        ),
    }


def run(repeat, log):
    """Rows: one per (operation, K, size) with fasthmm's and the floor's times."""
    from .suites import time_calls

    rows = []
    for n_seq, n_steps in SIZES:
        for k in KS:
            log(f"[floor] K={k}, {n_seq} x {n_steps}")
            problem = _problem(k, n_seq, n_steps)
            for op, (ours, floor, same) in _calls(*problem).items():
                calls = [(ours, None), (floor, None)]
                times, _, results = time_calls(calls, max(repeat, 10), 0.3)
                rows.append(
                    {
                        "op": op,
                        "k": k,
                        "size": f"{n_seq} x {n_steps}",
                        "fasthmm_s": statistics.median(times[0]),
                        "floor_s": statistics.median(times[1]),
                        "agree": bool(same(*results)),
                    }
                )
    return rows


def lines(rows):
    """The report's tables: fasthmm / floor per operation, K and size."""
    out = [
        "",
        "== fasthmm's functional API against a plain parallel Numba floor "
        "(exponentials inline, no checks)",
    ]
    for size in dict.fromkeys(r["size"] for r in rows):
        out.append(f"-- {size} (sequences x steps): fasthmm ms, floor ms, ratio")
        out.append(f"{'operation':<18}" + "".join(f"{'K=' + str(k):>20}" for k in KS))
        for op in dict.fromkeys(r["op"] for r in rows):
            cells = []
            for k in KS:
                r = [x for x in rows if (x["op"], x["k"], x["size"]) == (op, k, size)]
                if not r:
                    cells.append(f"{'-':>20}")
                    continue
                r = r[0]
                cell = (
                    f"{r['fasthmm_s'] * 1e3:.2f} {r['floor_s'] * 1e3:.2f} "
                    f"{r['fasthmm_s'] / r['floor_s']:.2f}{'' if r['agree'] else '!'}"
                )
                cells.append(f"{cell:>20}")
            out.append(f"{op:<18}" + "".join(cells))
    out.append(
        "ratio 1.00: as fast as the floor; '!' marks a result that differs from "
        "the floor's (it should not)."
    )
    return out
