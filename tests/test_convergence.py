"""The one convergence verdict: every case on hand-made eval-PSNR curves, the cases the
old rule got wrong, and that training never imports it."""

import ast
import math

import pytest
from conftest import REPO
from srstudy.train import convergence
from srstudy.train.convergence import COLLAPSED, CONVERGED, DIVERGED, RISING


@pytest.mark.parametrize(
    ("psnr", "verdict"),
    [
        ([30.0, 31.0, 31.5, 31.505], CONVERGED),  # +0.005 dB over the last epoch
        ([30.0, 31.0, 31.5, 31.6], RISING),
        ([30.0, 31.0, 31.52, 31.51], CONVERGED),  # a tiny dip after the best is no collapse
        ([31.42, 19.45], COLLAPSED),  # the demo's x4 additional_layer
        ([30.0, 31.0, math.nan, 31.2], DIVERGED),
        ([30.0, math.inf], DIVERGED),
        ([30.0], RISING),  # one epoch: no trend
    ],
)
def test_verdicts(psnr, verdict):
    assert convergence.judge(psnr).verdict == verdict


def test_a_one_epoch_dip_is_not_convergence():
    """The old rule called a model converged when its best epoch was not the last; here
    the last epoch dipped 0.01 dB but the last quarter still gained 0.2 dB."""
    result = convergence.judge([30.0, 30.5, 30.8, 31.0, 31.05, 31.1, 31.31, 31.3])
    assert result.best_epoch == 7
    assert result.verdict == RISING
    assert result.drift_db == pytest.approx(31.3 - 31.1)


def test_margins_are_settings():
    curve = [30.0, 31.0, 31.5, 31.55]
    assert convergence.judge(curve).verdict == RISING
    assert convergence.judge(curve, {"flat_db": 0.1}).verdict == CONVERGED
    assert convergence.judge([31.0, 30.0], {"collapse_db": 2.0}).verdict == CONVERGED
    with pytest.raises(ValueError, match="report.convergence: unknown"):
        convergence.judge(curve, {"gain_db": 0.1})


def test_classify_from_a_tables_numbers_matches_judge():
    """The committed tables keep best, last and the last-quarter drift only: the verdict
    read from them is the log's."""
    curve = [35.0, 35.8, 36.1, 36.3, 36.4, 36.45, 36.5, 36.52]
    full = convergence.judge(curve)
    again = convergence.classify(
        epochs=8, best_epoch=full.best_epoch, best_db=full.best_db, last_db=full.last_db, drift_db=full.drift_db
    )
    assert again == full


def test_resolved_needs_the_difference_clearly_above_both_drifts():
    assert convergence.resolved(0.3, [0.1, 0.05])
    assert not convergence.resolved(0.15, [0.1, 0.05])  # inside 2x the larger drift
    assert not convergence.resolved(-0.15, [0.1, 0.05])
    assert not convergence.resolved(5.0, [math.inf, 0.0])  # a diverged or one-epoch model
    assert convergence.resolved(0.15, [0.1], factor=1.0)


def test_counts_text_names_every_verdict_present():
    text = convergence.counts_text([CONVERGED, RISING, RISING, COLLAPSED])
    assert text == "1 of 4 converged (2 still rising, 1 collapsed)"
    with pytest.raises(ValueError, match="unknown convergence verdict"):
        convergence.counts([CONVERGED, "flat"])


def test_training_does_not_import_the_rule():
    """An import is a rerun trigger: the training jobs must not depend on this module."""
    for path in (REPO / "workflow/scripts/srstudy/train").glob("*.py"):
        if path.name == "convergence.py":
            continue
        tree = ast.parse(path.read_text())
        imported = [
            alias.name if isinstance(node, ast.Import) else f"{node.module}.{alias.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        ]
        assert not [name for name in imported if "convergence" in name], path
