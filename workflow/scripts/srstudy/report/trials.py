"""A search's trials, its winner (best.yaml), the budget spent and its figures."""

import json
import warnings
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

from srstudy.base.files import atomic_file, write_csv
from srstudy.search.worker import storage, suggest


def load_study(journal: str | Path, study: str) -> optuna.Study:
    return optuna.load_study(study_name=study, storage=storage(journal))


def trial_rows(study: optuna.Study, budget_epochs: int) -> list[dict]:
    """One row per trial: state, value, parameters, eval Y-PSNR per epoch, wall time."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("interrupted"):
            state = "interrupted"
        else:
            state = t.state.name.lower()
        row = {
            "trial": t.number,
            "state": state,
            "eval_psnr_y": t.value,
            "epochs": len(t.intermediate_values),
            "of_epochs": budget_epochs,
            "seconds": round(t.user_attrs.get("seconds", float("nan")), 2),
            "worker": t.user_attrs.get("worker"),
        }
        row |= {f"param_{key}": value for key, value in t.params.items()}
        row |= {f"epoch{epoch}": value for epoch, value in sorted(t.intermediate_values.items())}
        rows.append(row)
    return rows


def winner(study: optuna.Study, search: dict, defaults: dict) -> dict:
    """The best complete trial as a variant: its searched settings (the winner trains
    with the full 'defaults' budget, so the trial budget is left out)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise RuntimeError(
            f"search study '{study.study_name}' has no complete trial (all pruned or failed): "
            "widen the space, lower the learning rates or set pruner: none"
        )
    best = max(complete, key=lambda t: t.value)
    rebuilt = optuna.trial.FixedTrial(best.params)
    settings = suggest(rebuilt, search["space"], defaults)
    return {"trial": best.number, "eval_psnr_y": best.value, "params": best.params, "settings": settings}


def compute_spent(rows: list[dict]) -> dict:
    """Epochs trained against what the trials would have cost without pruning."""
    finished = [r for r in rows if r["state"] in ("complete", "pruned", "fail")]
    spent = sum(r["epochs"] for r in finished)
    full = sum(r["of_epochs"] for r in finished)
    pruned = sum(r["state"] == "pruned" for r in finished)
    return {
        "trials": len(finished),
        "pruned": pruned,
        "epochs_trained": spent,
        "epochs_without_pruning": full,
        "saved_fraction": 1 - spent / full if full else 0.0,
    }


def _figure(plot, study: optuna.Study, path: str | Path, title: str) -> None:
    """One of Optuna's matplotlib plots, or a note saying why it cannot be drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from srstudy.report.figures import save

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            axes = plot(study)
            fig = axes.ravel()[0].figure if hasattr(axes, "ravel") else axes.figure
            fig.set_size_inches(9, 5)
        except (ValueError, RuntimeError, ZeroDivisionError) as error:
            fig, ax = plt.subplots(figsize=(9, 2))
            ax.axis("off")
            ax.text(0.5, 0.5, f"{title}: not enough trials to draw it ({error})", ha="center", wrap=True)
    fig.suptitle(title)
    save(fig, path)


def summarize(
    journal: str | Path, study: str, *, name: str, scale: int, search: dict, defaults: dict, outputs: dict
) -> dict:
    """Write the winner (``outputs['best']``, YAML), the trials table (``trials``, CSV and
    ``trials_md``, Markdown) and the history, importance and parallel-coordinate
    figures (``history``, ``importances``, ``parallel``)."""
    from optuna.visualization import matplotlib as views

    study_obj = load_study(journal, study)
    budget_epochs = {**defaults, **search["budget"]}["epochs"]
    rows = trial_rows(study_obj, budget_epochs)
    best = winner(study_obj, search, defaults)
    spent = compute_spent(rows)
    best_doc = {"search": name, "scale": scale, "study": study, **best, "compute": spent}
    with atomic_file(outputs["best"], ".yaml") as tmp:
        tmp.write_text(yaml.safe_dump(best_doc, sort_keys=False))
    write_csv(outputs["trials"], rows)
    with atomic_file(outputs["trials_md"], ".md") as tmp:
        tmp.write_text(trials_markdown(rows, best, spent, name, scale))
    _figure(views.plot_optimization_history, study_obj, outputs["history"], f"{name} x{scale}: optimisation history")

    # PED-ANOVA: Optuna's own importance evaluator (fANOVA would need scikit-learn).
    def importances(study):
        return views.plot_param_importances(study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())

    _figure(importances, study_obj, outputs["importances"], f"{name} x{scale}: parameter importances")
    _figure(views.plot_parallel_coordinate, study_obj, outputs["parallel"], f"{name} x{scale}: parallel coordinates")
    return best_doc


def trials_markdown(rows: list[dict], best: dict, spent: dict, name: str, scale: int) -> str:
    params = sorted({key for row in rows for key in row if key.startswith("param_")})
    epochs = sorted(
        {key for row in rows for key in row if key.startswith("epoch") and key[5:].isdigit()}, key=lambda k: int(k[5:])
    )
    head = ["trial", "state", "eval Y-PSNR", *[p[6:] for p in params], *epochs, "seconds"]
    lines = [
        f"# Search '{name}', x{scale}",
        "",
        f"Best: trial {best['trial']}, eval Y-PSNR {best['eval_psnr_y']:.3f} dB, "
        f"settings `{json.dumps(best['settings'])}`.",
        f"Compute: {spent['epochs_trained']} epochs trained over {spent['trials']} trials, "
        f"{spent['epochs_without_pruning']} without pruning ({spent['pruned']} trials pruned, "
        f"{100 * spent['saved_fraction']:.0f}% saved).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]

    def cell(value, digits=".3f"):
        if value is None or value == "":
            return ""
        return format(value, digits) if isinstance(value, float) else str(value)

    for row in rows:
        values = [cell(row["trial"]), row["state"], cell(row["eval_psnr_y"])]
        values += [cell(row.get(p), ".3g") for p in params]  # learning rates need significant digits
        values += [cell(row.get(e)) for e in epochs] + [cell(row["seconds"], ".1f")]
        lines.append("| " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"
