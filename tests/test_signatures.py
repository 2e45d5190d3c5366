"""Keyword-only arguments where callers pass many: a call such as
``psnr_map(hr, model, bicubic, ...)`` cannot swap two paths unnoticed."""

import inspect

import pytest
from srstudy.report import costs, figures, run_summary, tables
from srstudy.stages import metrics

MODULES = [tables, figures, metrics, costs, run_summary]
MOST_POSITIONAL = 4  # beyond that, callers name what they pass


def positional(function) -> list[str]:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in inspect.signature(function).parameters.values() if p.kind in kinds]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_no_function_takes_many_positional_arguments(module):
    functions = [f for _, f in inspect.getmembers(module, inspect.isfunction) if f.__module__ == module.__name__]
    many = {f.__name__: positional(f) for f in functions if len(positional(f)) > MOST_POSITIONAL}
    assert not many, f"make these keyword-only past {MOST_POSITIONAL} positional parameters: {many}"


def test_the_job_entry_points_take_their_paths_by_name():
    assert positional(tables.write_scale_tables) == []
    assert positional(figures.psnr_map) == []
    with pytest.raises(TypeError, match="positional"):
        tables.write_scale_tables("comparisons.csv", "summary_seeds.csv")
    for function, first in [
        (tables.write_summaries, ["score_paths"]),
        (metrics.score_folder, ["hr_dir", "sr_dirs"]),
        (costs.write_costs, ["paths", "jobs"]),
        (run_summary.write_run_summary, ["config"]),
        (figures.crop_panel, ["hr_path", "upscaled"]),
        (figures.training_curves, ["logs"]),
    ]:
        assert positional(function) == first, function.__name__
