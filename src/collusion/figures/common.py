"""The one figure style and the helpers every figure shares.

Style: 7-8 pt fonts on panels about 2 inches wide (a three-panel row fits the paper's 5.5-inch text
width), legends outside the data (below the panels), the same colour for a given β in every
figure and for a given checkpoint selection where a figure compares selections, log axes labelled
in plain numbers (``log_axis``), vector PDF plus a 200-dpi PNG. Bands are defined in ``BANDS`` and
named in every caption.
"""

from __future__ import annotations

import math
import re
import textwrap
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import ticker  # noqa: E402

from ..analysis import RUN_KEYS, SETTING_KEYS  # noqa: E402
from ..spec import SELECTIONS  # noqa: E402, F401  (the figures draw a whole run's selections)

STYLE = {
    "font.size": 7.5,
    "axes.titlesize": 7.5,
    "axes.labelsize": 7.5,
    "xtick.labelsize": 6.5,
    "ytick.labelsize": 6.5,
    "legend.fontsize": 6.5,
    "legend.title_fontsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.2,
    "lines.markersize": 3,
    "pdf.fonttype": 42,  # embedded TrueType: text stays text in the PDF
}
plt.rcParams.update(STYLE)

PANEL = (2.2, 1.8)  # inches per panel
SELECTION_STYLE = {"best_val": "-", "last": "--"}
SELECTION_LABEL = {"best_val": "best validation (authors')", "last": "last epoch"}
# where a figure tells the selections apart by colour: two hues, so that their bands stay apart
SELECTION_COLOUR = {"best_val": "black", "last": "tab:blue"}
BANDS = {"sd": "± 1 SD over seeds", "2sem": "± 2·SEM over seeds"}
BETA_CMAP = plt.cm.viridis
BETA_ABOVE_ONE = "tab:red"


def beta_colour(beta: float):
    """The colour of a β in every figure: viridis from β = 0 (dark) to β = 1 (yellow-green);
    β > 1 (the divergent objective) red."""
    return BETA_ABOVE_ONE if beta > 1 else BETA_CMAP(0.9 * float(beta))


def beta_colours(betas) -> list:
    return [beta_colour(beta) for beta in betas]


def setting_label(key) -> str:
    experiment, dataset, model, aggregation, members = key
    label = f"{dataset} · {model}\n{aggregation} · M={members}"
    return label if experiment == dataset else f"{experiment}: {label}"


def settings(frame: pd.DataFrame):
    return list(frame.groupby(SETTING_KEYS, dropna=False))


def error_label(aggregation: str) -> str:
    return "test MSE (train-var. units)" if aggregation == "regression" else "test error (%)"


def error_values(frame: pd.DataFrame, column: str, aggregation: str) -> pd.Series:
    """Error rates as percentages for classification; MSE unchanged."""
    return frame[column] if aggregation == "regression" else 100 * frame[column]


PERCENT = (0.0, 100.0)  # an accuracy or error rate in %


def error_range(aggregation: str) -> tuple[float, float | None]:
    """The values an error of ``error_values`` can take: 0–100 % for classification, an MSE ≥ 0."""
    return (0.0, None) if aggregation == "regression" else PERCENT


def is_true(values: pd.Series) -> pd.Series:
    """Which of a column's flags are set, whether it holds booleans or was read back from a CSV
    ("True", "1", ...; an empty cell reads as NaN: not set)."""
    return values.astype(str).str.strip().str.lower().isin(["true", "1", "1.0", "yes"])


def selection_style(selection: str) -> dict:
    """Line style, colour and label of a checkpoint selection (figures comparing selections)."""
    return dict(
        color=SELECTION_COLOUR[selection],
        ls=SELECTION_STYLE[selection],
        label=SELECTION_LABEL[selection],
    )


def plain_number(value: float, _position=None) -> str:
    """A tick label: 0.02, 0.5, 3, 200 as they are; beyond 10^±4 as a power of ten."""
    if value <= 0:
        return ""
    exponent = math.floor(math.log10(value) + 1e-9)
    if -3 <= exponent <= 3:
        return f"{value:g}"
    mantissa = round(value / 10**exponent, 6)
    return f"$10^{{{exponent}}}$" if mantissa == 1 else f"${mantissa:g}\\times10^{{{exponent}}}$"


LOG_TICK_STEPS = [tuple(range(1, 10)), (1, 2, 3, 5, 7), (1, 2, 5), (1, 3), (1,)]  # finest first


def log_ticks(low: float, high: float, most: int = 6) -> list[float]:
    """Round ticks on a log axis from ``low`` to ``high`` (> 0): the finest of the 1-2-5-like steps
    that gives at most ``most``, no two closer than an eighth of the axis (9 and 10 would collide);
    over more decades than that, every k-th power of ten."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    closest = math.log10(high / low) / 8

    def within(steps):
        ticks = (step * 10.0**exponent for exponent in range(first, last + 1) for step in steps)
        return [t for t in ticks if low * (1 - 1e-9) <= t <= high * (1 + 1e-9)]

    for steps in LOG_TICK_STEPS:
        ticks = within(steps)
        gaps = [math.log10(b / a) for a, b in zip(ticks, ticks[1:])]
        if len(ticks) <= most and min(gaps, default=closest) >= closest:
            if len(ticks) >= 2:
                return ticks
            # a range too narrow for two round ticks: its ends, to two digits of the range
            scale = 10.0 ** (math.floor(math.log10(high - low)) - 1)
            return [
                round(math.ceil(low / scale) * scale, 12),
                round(math.floor(high / scale) * scale, 12),
            ]
    stride = math.ceil(len(ticks) / most)  # powers of ten only, every stride-th
    return [t for t in ticks if round(math.log10(t)) % stride == 0]


def log_axis(ax) -> None:
    """A log y axis labelled with a few plain numbers (0.2, 0.5, 1, 2, 5) and unlabelled minor
    ticks; matplotlib's default labels every minor tick of a short range as 2×10⁻¹, 3×10⁻¹, ...
    Call it after the panel's data is drawn (the ticks follow its limits)."""
    ax.set_yscale("log", nonpositive="clip")
    low, high = ax.get_ylim()
    ax.yaxis.set_major_locator(ticker.FixedLocator(log_ticks(low, high)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(plain_number))
    ax.yaxis.set_minor_locator(ticker.LogLocator(subs="all", numticks=12))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_ylim(low, high)


def div_axis(ax, aggregation: str) -> None:
    """The y axis of a DIV panel, after its data is drawn: log where DIV is a spread, never below 0
    (Jensen: regression, score and probability averaging); linear with a line at 0 under summed
    logits, whose DIV is not a variance and is often negative (on a log axis only β = 1 showed)."""
    if aggregation == "sum":
        ax.axhline(0, color="0.6", lw=0.6, zorder=0)
    else:
        log_axis(ax)


def grid(rows: int, columns: int, sharex: bool = False):
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(PANEL[0] * columns, PANEL[1] * rows + 0.45),
        squeeze=False,
        layout="constrained",
        sharex=sharex,
    )
    return fig, axes


WRAP_COLUMNS = 6  # panel columns per row of blocks: 13.2 inches of 2.2-inch panels, 2,640 px


def block_grid(
    rows: int, blocks: int, block_columns: int = 1, sharex: bool = False, most: int = WRAP_COLUMNS
):
    """A figure of ``blocks`` blocks of ``rows`` × ``block_columns`` panels each (a block: what one
    setting or group gets, e.g. its error above its DIV), side by side in rows of as many blocks as
    fit in ``most`` panel columns (at least one). Returns (figure, axes) with ``axes`` indexed as
    ``grid(rows, blocks * block_columns)``'s: ``axes[r, block * block_columns + j]``; the panels
    no block uses are hidden. With blocks that fit in one row the figure is ``grid``'s.

    ``sharex``: the panels of a block column share their x axis, with tick labels under the
    block's bottom panel only (never all the figure's panels: sharing over hundreds of axes made
    every plot autoscale all of them, quadratic in the settings). A figure of many settings was one
    row tens of metres wide; wrapped, it grows downwards."""
    per_row = max(1, min(blocks, most // block_columns))
    bands = max(1, -(-blocks // per_row))
    fig, panels = grid(rows * bands, per_row * block_columns)
    axes = np.empty((rows, blocks * block_columns), dtype=object)
    for block in range(blocks):
        band, place = divmod(block, per_row)
        for j in range(block_columns):
            column = block * block_columns + j
            axes[:, column] = panels[band * rows : (band + 1) * rows, place * block_columns + j]
            if sharex:
                for ax in axes[1:, column]:
                    ax.sharex(axes[0, column])
                for ax in axes[:-1, column]:  # as ``plt.subplots(sharex=...)`` does
                    ax.xaxis.set_tick_params(which="both", labelbottom=False)
                    ax.xaxis.offsetText.set_visible(False)
    used = {id(ax) for ax in axes.ravel()}
    for ax in panels.ravel():
        if id(ax) not in used:
            ax.set_visible(False)
    return fig, axes


def panel_grid(n: int, columns: int = 3):
    """n panels in rows of ``columns``; the unused ones hidden."""
    columns = max(1, min(columns, n))
    rows = max(1, -(-n // columns))
    fig, axes = grid(rows, columns)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def legend_below(fig, axes, title: str | None = None, columns: int = 6) -> None:
    """One legend for the figure, outside the data, from the labelled lines of every panel."""
    handles, labels = {}, []
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in handles:
                handles[label] = handle
                labels.append(label)
    if labels:
        panel_columns = len(np.ravel(axes))
        if np.ndim(axes) > 1:  # the grid's columns (a wrapped ``block_grid`` has fewer than axes')
            panel_columns = len({ax.get_subplotspec().colspan.start for ax in np.ravel(axes)})
        most = min(columns, len(labels), 2 * panel_columns)  # about two entries fit under a panel
        # fewer columns while the legend is wider than the figure (long labels under one panel
        # were cut at both sides); one column still too wide widens the figure
        root = fig.figure  # the figure itself, or a subfigure's
        renderer, available = fig.canvas.get_renderer(), fig.bbox.width / root.dpi  # inches
        for ncols in range(most, 0, -1):
            legend = fig.legend(
                [handles[label] for label in labels],
                labels,
                loc="outside lower center",
                ncols=ncols,
                title=title,
                frameon=False,
            )
            width = legend.get_window_extent(renderer).width / root.dpi
            if width <= available or ncols == 1:
                break
            legend.remove()
        if width > available:
            root.set_figwidth(root.get_figwidth() + width + 0.1 - available)


def fit_panels(fig, panels, height: float) -> None:
    """Grow the figure until its layout keeps every text inside it and ``panels`` at least
    ``height`` inches tall. Constrained layout makes room for tick labels, titles and legends by
    shrinking the panels and, where that leaves none, gives up: the texts then run past the
    figure's edges and over each other (a one-setting regime map, 1.5 inches tall: its row label
    cut at the left, its claim labels at the bottom, under the verdict key). As ``legend_below``
    does, it measures with the renderer and adds what is missing to the figure's size. Call it
    once the panels are drawn."""
    renderer, engine = fig.canvas.get_renderer(), fig.get_layout_engine()
    for _ in range(10):  # a layout that gave up measures short: a few rounds
        if engine is not None:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "constrained_layout not applied")
                engine.execute(fig)
        box = fig.get_tightbbox(renderer)  # inches
        width, tall = fig.get_size_inches()
        shortest = min(ax.get_window_extent(renderer).height for ax in panels) / fig.dpi
        wider = max(0.0, -box.x0) + max(0.0, box.x1 - width)
        taller = max(0.0, -box.y0) + max(0.0, box.y1 - tall) + max(0.0, height - shortest)
        if taller >= 0.01:  # the height first: a layout that gave up overflows at every side
            fig.set_figheight(tall + taller + 0.05)
        elif wider >= 0.01:
            fig.set_figwidth(width + wider + 0.05)
        else:
            return


TITLE_BREAKS = re.compile(r"(?<=: )|(?<= · )")  # where a panel title may break: after ": ", " · "


def fit_titles(fig) -> None:
    """Panel titles wider than their panel broken into lines after their separators (": ", " · "),
    each line as long as fits; a title of one setting's long names ran past the figure's right
    edge. Call it once the panels are drawn (their widths are measured after the layout)."""
    renderer = fig.canvas.get_renderer()
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
    for ax in fig.axes:
        title, width = ax.title, ax.get_window_extent(renderer).width
        if not title.get_text() or title.get_window_extent(renderer).width <= width:
            continue
        lines = []
        for line in title.get_text().split("\n"):
            pieces = [piece for piece in TITLE_BREAKS.split(line) if piece]
            current = pieces[0]
            for piece in pieces[1:]:
                title.set_text(current + piece)
                if title.get_window_extent(renderer).width <= width:
                    current += piece
                else:
                    lines.append(current.removesuffix(" · ").rstrip())
                    current = piece
            lines.append(current)
        title.set_text("\n".join(lines))


def note(fig, text: str) -> None:
    """A small line above the panels (e.g. which runs were left out); the layout makes room."""
    fig.suptitle(text, fontsize=6, color="0.3")


def empty_figure(message: str):
    """A figure that says why there is nothing to draw (wrapped to fit)."""
    text = "\n".join(textwrap.fill(line, 80) for line in message.splitlines())
    fig, ax = plt.subplots(figsize=(5.5, 0.6 + 0.2 * text.count("\n")))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center")
    return fig


def save(fig, pdf: str, png: str) -> None:
    fig.savefig(pdf)
    fig.savefig(png, dpi=200)
    plt.close(fig)


def band(
    frame: pd.DataFrame,
    by: list[str],
    metric: str,
    kind: str,
    within: tuple[float | None, float | None] = (None, None),
) -> pd.DataFrame:
    """Per group of ``by``: mean of ``metric`` over seeds and the band ``kind`` ("sd" or "2sem"),
    clipped to ``within`` (the values the metric can take: ``PERCENT`` for an accuracy or error rate,
    ``error_range``). A symmetric band of a few seeds near a bound passes it (an accuracy band
    above 100 %); clipped, it says only what the seeds can: the captions say so."""
    if kind not in BANDS:
        raise ValueError(f"band kind must be one of {sorted(BANDS)}, not {kind!r}")
    grouped = frame.groupby(by, dropna=False)[metric]
    out = grouped.agg(["mean", "std", "count"]).reset_index()
    half = out["std"] if kind == "sd" else 2 * out["std"] / np.sqrt(out["count"])
    out["low"], out["high"] = clipped(out["mean"], half.fillna(0.0), within)  # one seed: no band
    return out


def clipped(mean, half, within: tuple[float | None, float | None] = (None, None)):
    """The band mean ± half, each end clipped to ``within`` (what the metric can take)."""
    lowest, highest = within
    return (mean - half).clip(lower=lowest), (mean + half).clip(upper=highest)


def plot_band(ax, summary: pd.DataFrame, x: str, **style) -> None:
    summary = summary.sort_values(x)
    line = ax.plot(summary[x], summary["mean"], marker="o", **style)[0]
    ax.fill_between(
        summary[x], summary["low"], summary["high"], color=line.get_color(), alpha=0.18, lw=0
    )


def completed_only(frame: pd.DataFrame, runs: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Rows of ``frame`` whose run completed (``runs`` has each run's status); and how many runs
    diverged and are left out. A diverged run is never drawn as if it had finished."""
    status = runs[RUN_KEYS + ["status"]].drop_duplicates(RUN_KEYS)
    merged = frame.drop(columns=["status"], errors="ignore").merge(status, on=RUN_KEYS, how="left")
    diverged = merged["status"].eq("diverged")
    n_diverged = len(merged.loc[diverged, RUN_KEYS].drop_duplicates())
    return merged[~diverged].drop(columns="status"), n_diverged


def diverged_note(fig, n: int) -> None:
    if n:
        note(fig, f"{n} diverged run(s) left out of the means")
