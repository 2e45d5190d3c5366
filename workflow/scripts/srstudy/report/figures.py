"""Stage 6: figures (matplotlib, Agg backend, PNG).

* :func:`crop_panel`: one crop of one test frame at one scale: ground truth | bicubic |
  every variant, each tile titled with its PSNR on the crop (the thesis's crop figures).
* :func:`psnr_map`: one frame cut into a grid of cells, each coloured by its own PSNR,
  beside the gain of the model over bicubic per cell (the thesis's 115-crop figure).
* :func:`training_curves`: eval Y-PSNR (and training loss) per epoch of every variant.
* :func:`psnr_vs_scale`: mean PSNR of every variant and bicubic against the scale, with
  95% confidence intervals over frames, and the gain over bicubic.
* :func:`pareto`: per scale, every variant's Y-PSNR gain over bicubic against the GFLOPs
  of one 3840x2160 output frame, the Pareto front (no variant both cheaper and better) drawn.
"""

import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from srstudy.base.files import atomic_file  # noqa: E402
from srstudy.base.frames import modcrop, read_rgb
from srstudy.base.methods import BICUBIC  # noqa: E402
from srstudy.report.scores import ci95_halfwidth, frame_means, load_scores, method_order
from srstudy.stages.metrics import mse_uint8, psnr_from_mse  # noqa: E402

DPI = 110
# Crop panels: three tiles a row, each 3.3 in (363 px) wide, so the figure (~1100 px)
# fits the report's content column and every tile shows at >= 300 px.
CROP_COLUMNS = 3
CROP_TILE_INCHES = 3.3


def save(fig, path: str | os.PathLike) -> None:
    """Save a figure as PNG atomically and close it."""
    try:
        with atomic_file(path, ".png") as tmp:
            fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)


def crop_box(image: np.ndarray, box: list[int]) -> np.ndarray:
    """``image[y:y+h, x:x+w]`` for a box ``[x, y, width, height]`` (HR pixel coordinates);
    the box must lie inside the image."""
    x, y, width, height = box
    if x < 0 or y < 0 or x + width > image.shape[1] or y + height > image.shape[0]:
        raise ValueError(f"box {box} does not fit in an image of {image.shape[1]}x{image.shape[0]}")
    return image[y : y + height, x : x + width]


def crop_panel(
    hr_path: str | os.PathLike,
    upscaled: dict[str, str | os.PathLike],
    *,
    box: list[int],
    scale: int,
    out: str | os.PathLike,
    title: str = "",
) -> dict[str, float]:
    """Ground truth | each entry of ``upscaled`` (label -> frame: bicubic, then the
    variants) on the crop ``box`` of the modcropped HR frame; each tile's caption holds
    its PSNR (RGB, dB) on the crop. Returns those PSNRs."""
    hr = crop_box(modcrop(read_rgb(hr_path), scale), box)
    tiles = [("ground truth", hr, None)]
    for label, path in upscaled.items():
        tile = crop_box(read_rgb(path), box)
        tiles.append((label, tile, psnr_from_mse(mse_uint8(hr, tile))))
    columns = min(len(tiles), CROP_COLUMNS)
    rows = math.ceil(len(tiles) / columns)
    width = CROP_TILE_INCHES * columns
    height = rows * (CROP_TILE_INCHES * box[3] / box[2] + 0.5)
    fig, axes = plt.subplots(rows, columns, figsize=(width, height), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, (label, tile, psnr) in zip(axes.flat, tiles, strict=False):
        ax.imshow(tile, interpolation="nearest")
        ax.set_title(label if psnr is None else f"{label}: {psnr:.2f} dB", fontsize=11)
    if title:
        fig.suptitle(title, fontsize=10)
    save(fig, out)
    return {label: psnr for label, _, psnr in tiles if psnr is not None}


def cell_psnr(hr: np.ndarray, sr: np.ndarray, cell: int) -> np.ndarray:
    """PSNR (RGB, dB) of every full ``cell`` x ``cell`` block of the frame: an array of
    rows x columns (the right and bottom remainder that is no full cell is left out)."""
    rows, columns = hr.shape[0] // cell, hr.shape[1] // cell
    if rows == 0 or columns == 0:
        raise ValueError(f"cell {cell} is larger than the frame ({hr.shape[1]}x{hr.shape[0]})")
    a = hr[: rows * cell, : columns * cell].astype(np.int32)
    b = sr[: rows * cell, : columns * cell].astype(np.int32)
    sq = ((a - b) ** 2).reshape(rows, cell, columns, cell, -1)
    mse = sq.sum(axis=(1, 3, 4)) / (cell * cell * sq.shape[-1])
    with np.errstate(divide="ignore"):
        return np.where(mse == 0, np.inf, 10.0 * np.log10(255.0**2 / np.maximum(mse, 1e-300)))


def psnr_map(
    *,
    hr_path: str | os.PathLike,
    model_path: str | os.PathLike,
    bicubic_path: str | os.PathLike,
    scale: int,
    cell: int,
    out: str | os.PathLike,
    label: str = "model",
    title: str = "",
) -> dict[str, np.ndarray]:
    """The frame cut into ``cell`` x ``cell`` tiles, each coloured by the model's PSNR
    on it; beside it the model's gain over bicubic per cell. Returns both grids."""
    hr = modcrop(read_rgb(hr_path), scale)
    model = read_rgb(model_path)
    bicubic = read_rgb(bicubic_path)
    psnr = cell_psnr(hr, model, cell)
    gain = psnr - cell_psnr(hr, bicubic, cell)
    rows, columns = psnr.shape
    shown = hr[: rows * cell, : columns * cell].mean(axis=2)
    fig, axes = plt.subplots(1, 2, figsize=(13, 13 * rows / columns / 2 + 1.2), layout="constrained")
    finite = psnr[np.isfinite(psnr)]
    panels = [
        (axes[0], psnr, "viridis", (finite.min(), finite.max()) if finite.size else (0, 1), f"PSNR of {label} (dB)"),
        (axes[1], gain, "RdBu", _symmetric(gain), f"PSNR gain of {label} over bicubic (dB)"),
    ]
    for ax, grid, cmap, limits, name in panels:
        _cell_panel(fig, ax, shown, grid, cell=cell, cmap=cmap, limits=limits, name=name)
    if title:
        fig.suptitle(title, fontsize=10)
    save(fig, out)
    return {"psnr": psnr, "gain": gain}


def _cell_panel(fig, ax, shown: np.ndarray, grid: np.ndarray, *, cell: int, cmap: str, limits, name: str) -> None:
    """One panel of :func:`psnr_map`: the grey frame under its cell grid of values
    (each written in its cell while they stay legible), with a colour bar."""
    rows, columns = grid.shape
    extent = (0, columns * cell, rows * cell, 0)
    ax.imshow(shown, cmap="gray", extent=extent)
    low, high = limits
    image = ax.imshow(grid, cmap=cmap, vmin=low, vmax=high, alpha=0.65, extent=extent, interpolation="nearest")
    if rows * columns <= 400:
        for r in range(rows):
            for c in range(columns):
                value = grid[r, c]
                text = "inf" if np.isinf(value) else f"{value:.1f}"
                ax.text((c + 0.5) * cell, (r + 0.5) * cell, text, ha="center", va="center", fontsize=6)
    ax.set_xticks(np.arange(0, columns * cell + 1, cell), minor=True)
    ax.set_yticks(np.arange(0, rows * cell + 1, cell), minor=True)
    ax.grid(which="minor", color="white", linewidth=0.3)
    ax.tick_params(which="both", length=0, labelsize=7)
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01).set_label(name, fontsize=8)
    ax.set_title(f"{name}: {rows} x {columns} tiles of {cell} px", fontsize=9)


def _symmetric(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    bound = float(np.abs(finite).max()) if finite.size else 1.0
    bound = bound or 1.0
    return -bound, bound


def training_curves(
    logs: dict[tuple[str, int], str | os.PathLike],
    *,
    scale: int,
    out: str | os.PathLike,
    variants: list[str],
    bicubic: float | None = None,
) -> None:
    """Eval Y-PSNR and training loss per epoch, one colour per variant (one line per
    seed); a dot marks the best epoch (the checkpoint that is kept). ``bicubic``: the
    bicubic eval Y-PSNR (same convention), drawn as the line a model has to clear."""
    fig, (ax_psnr, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    colours = _colours(variants)
    seen = set()
    for (variant, _seed), path in logs.items():
        log = pd.read_csv(path)
        colour = colours[variant]
        label = variant if variant not in seen else None
        seen.add(variant)
        ax_psnr.plot(log["epoch"], log["eval_psnr_y"], color=colour, label=label, linewidth=1.2)
        best = log["eval_psnr_y"].idxmax()
        ax_psnr.plot(log["epoch"][best], log["eval_psnr_y"][best], "o", color=colour, markersize=4)
        ax_loss.plot(log["epoch"], log["loss"], color=colour, label=label, linewidth=1.2)
    if bicubic is not None and math.isfinite(bicubic):
        ax_psnr.axhline(bicubic, color="black", linestyle="--", linewidth=1, label=f"bicubic ({bicubic:.2f} dB)")
    ax_psnr.set(xlabel="epoch", ylabel="eval PSNR, Y (dB)", title=f"x{scale}: eval PSNR per epoch (dot: best)")
    ax_loss.set(xlabel="epoch", ylabel="training loss (MSE)", yscale="log", title=f"x{scale}: training loss")
    for ax in (ax_psnr, ax_loss):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax_psnr.legend(fontsize=8)
    save(fig, out)


def psnr_vs_scale(
    score_paths: list[str | os.PathLike], variants: list[str], *, out: str | os.PathLike, title: str = ""
) -> pd.DataFrame:
    """Mean PSNR (left) and mean gain over bicubic (right) against the scale, for
    every variant and bicubic, in both conventions (rows); error bars: t-based 95% CI
    over frames (of the paired per-frame differences, for the gain). Returns the data."""
    per_frame = frame_means(load_scores(score_paths))
    order = method_order(per_frame, variants)
    data = scale_means(per_frame, order)
    scales = sorted(per_frame["scale"].unique())
    colours = _colours(order)
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), squeeze=False, layout="constrained")
    offsets = np.linspace(-0.15, 0.15, len(order)) if len(order) > 1 else [0.0]
    for r, (metric, name) in enumerate([("psnr_rgb", "RGB, no crop (thesis)"), ("psnr_y", "Y, border crop (field)")]):
        for c, (column, ylabel) in enumerate([(metric, "PSNR (dB)"), (f"{metric}_gain", "gain over bicubic (dB)")]):
            ax = axes[r][c]
            if column not in data:
                ax.axis("off")
                continue
            for offset, method in zip(offsets, order, strict=True):
                if c == 1 and method == BICUBIC:
                    continue  # its gain over itself
                sub = data[data["variant"] == method]
                ax.errorbar(
                    np.arange(len(scales)) + offset,
                    sub[column],
                    yerr=sub[f"{column}_ci95"].fillna(0),
                    color=colours[method],
                    marker="o",
                    markersize=4,
                    capsize=3,
                    linewidth=1.2,
                    linestyle="--" if method == BICUBIC else "-",
                    label=method,
                )
            ax.set_xticks(range(len(scales)), [f"x{s}" for s in scales])
            ax.set(xlabel="scale", ylabel=ylabel, title=f"{ylabel.split(' (')[0]}: {name}")
            ax.grid(alpha=0.3)
            if c == 1:
                ax.axhline(0, color="black", linewidth=0.8)
    # One legend for the four panels, outside them: inside, it covers points.
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=9, title="method")
    if title:
        fig.suptitle(title, fontsize=10)
    save(fig, out)
    return data


def scale_means(per_frame: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Per scale and method (in ``order``): mean RGB and Y PSNR over frames with their
    95% CI, and the mean paired gain over bicubic with its CI (when bicubic was scored)."""
    rows = []
    for scale in sorted(per_frame["scale"].unique()):
        at = per_frame[per_frame["scale"] == scale]
        bicubic = at[at["variant"] == BICUBIC].set_index("frame")
        for method in order:
            values = at[at["variant"] == method].set_index("frame")
            row = {"scale": scale, "variant": method}
            for metric in ("psnr_rgb", "psnr_y"):
                row[metric] = values[metric].mean()
                row[f"{metric}_ci95"] = ci95_halfwidth(values[metric])
                if not bicubic.empty:
                    diff = values[metric] - bicubic[metric].reindex(values.index)
                    row[f"{metric}_gain"] = diff.mean()
                    row[f"{metric}_gain_ci95"] = ci95_halfwidth(diff)
            rows.append(row)
    return pd.DataFrame(rows)


def pareto_front(gflops: list[float], gains: list[float]) -> list[bool]:
    """Whether each point is on the Pareto front: no other point costs at most as much
    and gains at least as much, with one of the two strictly."""
    points = list(zip(gflops, gains, strict=True))
    return [not any(c <= cost and g >= gain and (c < cost or g > gain) for c, g in points) for cost, gain in points]


# Markers per architecture (srstudy.nets.registry), so the network family shows at a glance.
ARCH_MARKERS = {"srcnn": "o", "fsrcnn": "s", "espcn": "^"}


def pareto(
    score_paths: list[str | os.PathLike],
    *,
    training_csv: str | os.PathLike,
    variants: list[str],
    out: str | os.PathLike,
    title: str = "",
) -> pd.DataFrame:
    """One panel per scale: each variant's mean Y-PSNR gain over bicubic (field
    convention; error bars: t-based 95% CI over frames of the paired differences) against
    its GFLOPs per 3840x2160 output frame (log axis), from the run summary's per-model
    table; the Pareto front joined by a line. Returns the data (``pareto``: on the front)."""
    per_frame = frame_means(load_scores(score_paths))
    training = pd.read_csv(training_csv)
    order = [m for m in method_order(per_frame, variants) if m != BICUBIC]
    scales = sorted(per_frame["scale"].unique())
    rows = []
    for scale in scales:
        at = per_frame[per_frame["scale"] == scale]
        bicubic = at[at["variant"] == BICUBIC].set_index("frame")["psnr_y"]
        models = training[training["scale"] == scale].groupby("variant")
        for method in order:
            if method not in models.groups:
                continue
            values = at[at["variant"] == method].set_index("frame")["psnr_y"]
            diff = values - bicubic.reindex(values.index)
            group = models.get_group(method)
            rows.append(
                {
                    "scale": scale,
                    "variant": method,
                    "arch": group["arch"].iloc[0] if "arch" in group else "srcnn",
                    "gflops_4k": float(group["gflops_4k"].mean()),
                    "psnr_y_gain": diff.mean(),
                    "psnr_y_gain_ci95": ci95_halfwidth(diff),
                }
            )
    data = pd.DataFrame(rows, columns=["scale", "variant", "arch", "gflops_4k", "psnr_y_gain", "psnr_y_gain_ci95"])
    data["pareto"] = False
    for _, group in data.groupby("scale"):
        data.loc[group.index, "pareto"] = pareto_front(group["gflops_4k"].tolist(), group["psnr_y_gain"].tolist())
    colours = _colours(order)
    fig, axes = plt.subplots(1, len(scales), figsize=(4.2 * len(scales) + 2, 4.2), squeeze=False, layout="constrained")
    for ax, scale in zip(axes[0], scales, strict=True):
        at = data[data["scale"] == scale]
        for row in at.itertuples():
            ax.errorbar(
                row.gflops_4k,
                row.psnr_y_gain,
                yerr=0 if math.isnan(row.psnr_y_gain_ci95) else row.psnr_y_gain_ci95,
                color=colours[row.variant],
                marker=ARCH_MARKERS.get(row.arch, "D"),
                markersize=7,
                capsize=3,
                linestyle="none",
                label=row.variant,
            )
            ax.annotate(
                row.variant, (row.gflops_4k, row.psnr_y_gain), fontsize=7, xytext=(4, 3), textcoords="offset points"
            )
        front = at[at["pareto"]].sort_values("gflops_4k")
        ax.step(front["gflops_4k"], front["psnr_y_gain"], where="post", color="black", linewidth=0.9, alpha=0.6)
        ax.axhline(0, color="black", linewidth=0.8, linestyle="--")
        ax.set_xscale("log")
        ax.set(xlabel="GFLOPs per 3840x2160 frame (log)", ylabel="Y-PSNR gain over bicubic (dB)", title=f"x{scale}")
        ax.grid(alpha=0.3, which="both")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=8, title="variant")
    if title:
        fig.suptitle(title, fontsize=10)
    save(fig, out)
    return data


def _colours(names: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    out, i = {}, 0
    for name in names:
        if name == BICUBIC:
            out[name] = (0.4, 0.4, 0.4, 1.0)
        else:
            out[name] = cmap(i % 10)
            i += 1
    return out
