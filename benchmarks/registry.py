"""The registry of workloads and implementations.

A *workload* is a family of inputs (for example "log-emissions": random
log-emission matrices for several numbers of states) with the operations that
can be run on it. An *implementation* of an operation on a workload (fasthmm,
naive NumPy, later hmmlearn) is registered under the key
``(workload, operation, implementation)``.

A registered implementation is a *prepare* function: it takes the workload's
data and returns a zero-argument callable (or a :class:`Call` when each run
needs an untimed reset first). All set-up that should not be timed (building a
model, allocating buffers) belongs in *prepare*.

Operation names containing ``/`` (``"forward/exp"``) are *parts* of
the operation before the slash: the report shows them in a separate kernel
split table instead of the main comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Call:
    """What a prepare function returns when each timed run needs a reset.

    ``setup`` runs (untimed) before every call of ``run``.
    """

    run: Callable[[], Any]
    setup: Callable[[], Any] | None = None


@dataclass
class Workload:
    """A family of inputs.

    Attributes
    ----------
    name : str
    description : str
        One line, printed above the workload's table.
    sizes : callable(quick: bool) -> list of dict
        The parameter sets to run (one table block each).
    make : callable(**params) -> data
        Builds the input. ``data`` must have ``n_sequences`` and
        ``subset(n)`` (the first ``n`` sequences), so that slow
        implementations can be timed on part of the batch.
    describe : callable(params: dict) -> str
        A short label of one parameter set, e.g. ``"K=16"``.
    flops : callable(operation, params) -> float or None
        Floating-point operations of one call, for GFLOP/s; ``None`` when not
        defined for that operation.
    agree : callable(operation, result, reference) -> float or None
        Discrepancy between an implementation's result and the baseline's on
        the same data (``None``: not checked).
    tolerance : float
        Largest discrepancy reported as "ok".
    baseline : str
        The implementation the others are compared with.
    layout : {"long", "wide"}
        How the report prints the workload: one row per implementation
        ("long"), or one row per operation with the implementations side by
        side and their ratios to the baseline ("wide").
    """

    name: str
    description: str
    sizes: Callable[[bool], list]
    make: Callable[..., Any]
    describe: Callable[[dict], str]
    flops: Callable[[str, dict], Any] = lambda op, params: None
    agree: Callable[[str, Any, Any], Any] = lambda op, out, ref: None
    tolerance: float = 1e-8
    baseline: str = "fasthmm"
    layout: str = "long"
    operations: list = field(default_factory=list)


@dataclass
class Implementation:
    """One implementation of one operation on one workload.

    Attributes
    ----------
    prepare : callable(data) -> callable or Call
    max_sequences : int or None
        When set, time on the first ``max_sequences`` sequences only and scale
        the time linearly to the full batch (for slow reference code). Peak
        memory is always measured on the full batch.
    max_samples : int, callable(params) -> int or None, or None
        Like ``max_sequences`` but counted in samples (``data.head(n)``:
        whole sequences, or a prefix of a single long sequence); a callable
        decides per parameter set. The time is scaled by the ratio of samples.
    peak_memory : bool
        Measure the peak memory of one call (tracemalloc, full batch).
    with_baseline : bool
        Time round-robin with the baseline (for ratios that must see the same
        machine load, e.g. 1 thread against the default).
    agree : callable(operation, result, reference) -> float or None, optional
        Overrides the workload's ``agree`` for this implementation.
    """

    workload: str
    operation: str
    implementation: str
    prepare: Callable[[Any], Any]
    max_sequences: int | None = None
    max_samples: Any = None
    peak_memory: bool = True
    with_baseline: bool = False
    agree: Callable[[str, Any, Any], Any] | None = None

    def samples_limit(self, params):
        """The ``max_samples`` for one parameter set (None: no limit)."""
        m = self.max_samples
        return m(params) if callable(m) else m


WORKLOADS: dict[str, Workload] = {}
IMPLEMENTATIONS: dict[tuple[str, str, str], Implementation] = {}


def register_workload(workload):
    """Add a :class:`Workload` to the registry and return it."""
    if workload.name in WORKLOADS:
        raise ValueError(f"workload {workload.name!r} registered twice")
    WORKLOADS[workload.name] = workload
    return workload


def register(workload, operation, implementation, *, max_sequences=None, **options):
    """Decorator registering ``prepare(data)`` under the three names.

    ``options`` are further :class:`Implementation` fields (``max_samples``,
    ``peak_memory``, ``with_baseline``, ``agree``).
    """

    def decorator(prepare):
        key = (workload, operation, implementation)
        if key in IMPLEMENTATIONS:
            raise ValueError(f"{key} registered twice")
        if workload not in WORKLOADS:
            raise ValueError(f"unknown workload {workload!r}; register it first")
        ops = WORKLOADS[workload].operations
        if operation not in ops:
            ops.append(operation)
        IMPLEMENTATIONS[key] = Implementation(
            workload, operation, implementation, prepare, max_sequences, **options
        )
        return prepare

    return decorator


def implementations(workload, operation):
    """The implementations of an operation, the baseline first."""
    base = WORKLOADS[workload].baseline
    found = [
        impl
        for (w, op, _), impl in IMPLEMENTATIONS.items()
        if w == workload and op == operation
    ]
    return sorted(found, key=lambda impl: impl.implementation != base)
