"""fasthmm benchmarks: ``python -m benchmarks [--quick] [--json PATH]``.

Workloads and implementations live in a registry keyed by
``(workload, operation, implementation)`` (see :mod:`benchmarks.registry`);
:mod:`benchmarks.core` registers the functional-API workloads. Not part of the
installed package: run from the repository root.
"""

from .registry import (
    IMPLEMENTATIONS,
    WORKLOADS,
    Call,
    Implementation,
    Workload,
    register,
    register_workload,
)

__all__ = [
    "IMPLEMENTATIONS",
    "WORKLOADS",
    "Call",
    "Implementation",
    "Workload",
    "register",
    "register_workload",
]
