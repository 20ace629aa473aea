"""Shared pytest configuration: hypothesis profiles and the reference helpers.

Two hypothesis profiles:

- ``ci`` (default): derandomised, modest example counts, so that the suite runs
  in well under a minute after Numba compilation;
- ``long``: 1000 examples per property, for a thorough local run:

      HYPOTHESIS_PROFILE=long python -m pytest tests
"""

import os
import sys

from hypothesis import HealthCheck, settings

# Make tests/reference.py importable as ``reference`` whatever the import mode.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "long",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
