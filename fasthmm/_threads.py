"""How fasthmm uses threads: passive OpenMP waiting, no parallel region for small work.

Two rules keep threads from being a penalty on a busy machine (other
processes, several fits at once under joblib, a test runner):

* **Threads sleep when idle.** GNU OpenMP (Numba's default threading layer on
  Linux) lets idle threads spin for a while after each parallel region. On a
  machine whose other cores are busy, the spinning threads take CPU time from
  the threads that still have work, and every parallel region waits for a
  thread the scheduler has put aside: a fit then runs 2-6x slower than on
  one thread. With ``OMP_WAIT_POLICY=PASSIVE`` idle threads sleep instead, and
  two threads are never slower than one. :func:`prefer_passive_waiting` sets
  it when the process has not loaded OpenMP yet and the user has not chosen
  a policy (``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` in the environment).
* **Small work runs on one thread.** Waking a sleeping thread costs tens of
  microseconds, more on a busy machine, so a call whose work is below
  :data:`MIN_PARALLEL_WORK` runs its kernels on the calling thread alone
  (:func:`threads_for`).

Results never depend on the thread count: every batch kernel sums over blocks
fixed by the sequence lengths alone (:mod:`fasthmm._kernels.partition`).
Numba's thread count is per Python thread, so several Python threads may run
fasthmm at once.
"""

import contextlib
import functools
import os

import numba

from ._first_use import FirstCall

#: Work (see :func:`work_units`) below which a call runs on one thread. One
#: unit is roughly a nanosecond of single-thread kernel time, so the
#: threshold is a few milliseconds: well above the cost of waking a thread,
#: and high enough that a small fit (CategoricalHMM K=2, 100 x 200) is not
#: slowed by threads when another process keeps the other core busy.
MIN_PARALLEL_WORK = 4_000_000


def _openmp_loaded():
    """True when an OpenMP runtime is already mapped into this process."""
    try:
        with open("/proc/self/maps") as maps:
            return any("libgomp" in line or "libomp" in line for line in maps)
    except OSError:  # not Linux: nothing to decide here
        return True


def prefer_passive_waiting():
    """Ask GNU OpenMP to put idle threads to sleep, unless the user decided.

    Must run before Numba starts its OpenMP threads (the runtime reads the
    variable once, when it is loaded). Does nothing when ``OMP_WAIT_POLICY``
    or ``GOMP_SPINCOUNT`` is already set, or when OpenMP is already loaded.

    Returns
    -------
    set_here : bool
        True when this call set ``OMP_WAIT_POLICY``.
    """
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return False
    if _openmp_loaded():
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True


def work_units(n_samples, n_components):
    """Rough single-thread cost of one pass over a batch, in work units.

    Parameters
    ----------
    n_samples : int
    n_components : int

    Returns
    -------
    units : int
    """
    return int(n_samples) * (int(n_components) + 8) ** 2


def rows_of(X):
    """Number of rows in ``X`` (an array or a list of sequences), before any check.

    A cheap estimate used only to choose the thread count; 0 when ``X`` has
    no obvious size (validation reports the problem later).
    """
    try:
        shape = getattr(X, "shape", None)
        if shape is not None:
            return int(shape[0]) if len(shape) else 0
        if isinstance(X, (list, tuple)):
            try:
                return sum(len(x) for x in X)
            except TypeError:  # a flat list of symbols
                return len(X)
    except Exception:  # noqa: BLE001 - any oddity is validation's to report
        pass
    return 0


def adaptive(method):
    """Decorate a model method ``f(self, X, ...)`` to run :func:`threads_for` its data."""

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        try:
            k = int(self.n_components)
        except (TypeError, ValueError, OverflowError):  # validation reports it
            k = 1
        with FirstCall(), threads_for(rows_of(X), k):
            return method(self, X, *args, **kwargs)

    return wrapper


def use_threads(n_samples, n_components):
    """Whether a kernel call of this size should start a parallel region.

    The rule of :func:`threads_for`, for callers that have a one-thread form
    of the kernel (no parallel region at all, which is cheaper than a region
    of one thread).

    Parameters
    ----------
    n_samples : int
    n_components : int

    Returns
    -------
    parallel : bool
    """
    return (
        work_units(n_samples, n_components) >= MIN_PARALLEL_WORK
        and numba.get_num_threads() > 1
    )


@contextlib.contextmanager
def threads_for(n_samples, n_components):
    """Run the enclosed kernels on one thread when the work is small.

    Parameters
    ----------
    n_samples : int
        Rows of the batch the enclosed calls work on.
    n_components : int
    """
    current = numba.get_num_threads()
    if current == 1 or work_units(n_samples, n_components) >= MIN_PARALLEL_WORK:
        yield
        return
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(current)


_pool = {}


def _executor():
    """The process's pool of worker threads (created on first use)."""
    if "executor" not in _pool:
        import concurrent.futures

        _pool["executor"] = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, os.cpu_count() or 1),
            thread_name_prefix="fasthmm",
        )
    return _pool["executor"]


def run_blocks(kernel, before, after, n_blocks, threads=True):
    """``kernel(*before, b0, b1, *after)`` over blocks ``0:n_blocks``, split
    into contiguous ranges run at once on ``numba.get_num_threads()`` threads
    (``threads``, e.g. :func:`use_threads`), else in one call on the calling
    thread.

    The kernel must release the GIL (``nogil=True``) and write each block's
    results to that block's own outputs, so that the result does not depend
    on the split: threads from Python instead of a parallel kernel, which
    spares compiling a second (parallel) form of the kernel. The first range
    runs on the calling thread.

    Parameters
    ----------
    kernel : Numba dispatcher
    before, after : tuple
        Arguments before and after the block range.
    n_blocks : int
    threads : bool, default True
        False: one call over every block, on the calling thread.

    Returns
    -------
    results : list
        What each call returned, in the order of the ranges (one entry
        per thread used).
    """
    if not threads:
        return [kernel(*before, 0, n_blocks, *after)]
    n_threads = max(1, min(numba.get_num_threads(), n_blocks))
    bounds = [n_blocks * i // n_threads for i in range(n_threads + 1)]
    futures = [
        _executor().submit(kernel, *before, bounds[i], bounds[i + 1], *after)
        for i in range(1, n_threads)
    ]
    try:
        first = kernel(*before, bounds[0], bounds[1], *after)
    finally:
        rest = [f.result() for f in futures]
    return [first, *rest]
