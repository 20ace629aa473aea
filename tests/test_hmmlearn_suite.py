"""hmmlearn's own tests, run against fasthmm by an import change.

The conversion and the list of expected failures (each with its reason) are
in ``tests/hmmlearn_suite.py``. The run is one subprocess (hmmlearn's test
package sets NumPy's error state globally), with hmmlearn's random seed fixed.
Skipped when hmmlearn or scikit-learn (which hmmlearn's tests import) is
absent.
"""

import re

import pytest

pytest.importorskip("hmmlearn")
pytest.importorskip("sklearn")

import hmmlearn_suite  # noqa: E402


def test_hmmlearn_suite_passes_on_fasthmm(tmp_path):
    result = hmmlearn_suite.run(tmp_path, "-q", "-rfEX", "--tb=short")
    summary = result.stdout.strip().splitlines()[-1] if result.stdout else ""
    assert result.returncode == 0, (
        f"hmmlearn's tests on fasthmm: {summary}\n{result.stdout[-15000:]}"
        f"\n{result.stderr[-3000:]}"
    )
    assert re.search(r"\d+ passed", summary), summary
    assert not re.search(r"\d+ (failed|errors?)\b", summary), summary
