"""The figure and paper-table registries, the figure helpers and the regime map, on synthetic tables."""

from __future__ import annotations

import copy
import importlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collusion import figures, tables
from collusion.figures import common, regime_map

REPO = Path(__file__).resolve().parents[1]
REPORT = REPO / "workflow" / "report"
ANALYSES = {
    "runs",
    "debias",
    "learner_dropout",
    "gen_gap",
    "dynamics",
    "curves",
    "divergence",
    "calibration",
}


def test_every_registered_output_has_a_builder_caption_and_known_inputs():
    for name, entry in figures.FIGURES.items():
        assert callable(importlib.import_module(f"collusion.figures.{name}").draw)
        assert (REPORT / f"figure_{name}.rst").exists()
        assert entry.section in figures.SECTIONS
        for source in entry.inputs:
            assert (
                source in ANALYSES
                or source in ("claims", "mitigation_claims")
                or (
                    source.startswith("table:")
                    and figures.input_name(source) in figures.PAPER_TABLES
                )
            ), source
    for name, entry in figures.PAPER_TABLES.items():
        assert callable(getattr(tables, entry.builder))
        assert (REPORT / f"table_{name}.rst").exists()
        assert entry.section in figures.SECTIONS and set(entry.sources) <= ANALYSES


def test_unknown_figure_names_the_known_ones():
    with pytest.raises(KeyError, match="beta_sweep"):
        figures.draw("no_such_figure", {})


def test_band_is_one_sd_or_two_sem_over_seeds():
    frame = pd.DataFrame({"beta": [0, 0, 0, 1], "value": [1.0, 2.0, 6.0, 4.0]})
    sd = common.band(frame, ["beta"], "value", "sd").set_index("beta")
    # β = 0: mean 3, sample SD sqrt(((1-3)^2 + (2-3)^2 + (6-3)^2) / 2) = sqrt(7)
    assert sd.loc[0, "mean"] == 3.0
    assert sd.loc[0, "high"] == pytest.approx(3 + math.sqrt(7))
    assert sd.loc[0, "low"] == pytest.approx(3 - math.sqrt(7))
    sem = common.band(frame, ["beta"], "value", "2sem").set_index("beta")
    assert sem.loc[0, "high"] == pytest.approx(3 + 2 * math.sqrt(7) / math.sqrt(3))
    assert sem.loc[1, "low"] == sem.loc[1, "high"] == 4.0  # one seed: no band
    with pytest.raises(ValueError, match="band kind"):
        common.band(frame, ["beta"], "value", "1sem")


def run_rows(**changes):
    base = dict(
        experiment="e", dataset="d", model="m", aggregation="score", members=3, beta=0.0, seed=0
    )
    return {**base, **changes}


def test_diverged_runs_are_left_out_and_counted():
    runs = pd.DataFrame(
        [
            run_rows(seed=0, status="completed"),
            run_rows(seed=1, status="diverged"),
            run_rows(seed=1, status="diverged"),
        ]
    )  # two selections of one run
    curves = pd.DataFrame(
        [{**run_rows(seed=s), "epoch": e, "x": 1.0} for s in (0, 1) for e in (1, 2)]
    )
    kept, n_diverged = common.completed_only(curves, runs)
    assert n_diverged == 1
    assert set(kept["seed"]) == {0} and len(kept) == 2 and "status" not in kept


def test_each_beta_has_one_colour_everywhere():
    assert common.beta_colours([0, 0.5, 1]) == [
        common.beta_colour(0),
        common.beta_colour(0.5),
        common.beta_colour(1),
    ]
    assert len({tuple(common.beta_colour(b)) for b in (0, 0.25, 0.5, 0.75, 1)}) == 5
    assert common.beta_colour(1.5) == common.beta_colour(2.0) == common.BETA_ABOVE_ONE


def test_pseudo_diversity_ratio_is_train_over_test_div():
    runs = pd.DataFrame(
        [
            {
                **run_rows(seed=0),
                "selection": "last",
                "status": "completed",
                "train_DIV": 2.0,
                "test_DIV": 1.0,
            },
            {
                **run_rows(seed=1),
                "selection": "last",
                "status": "completed",
                "train_DIV": 6.0,
                "test_DIV": 1.5,
            },
            {
                **run_rows(seed=2),
                "selection": "last",
                "status": "diverged",
                "train_DIV": 1e9,
                "test_DIV": 1.0,
            },
        ]
    )
    row = tables.pseudo_diversity(runs).iloc[0]
    assert row["seeds"] == 2
    assert row["DIV_train_test_ratio_mean"] == pytest.approx(3.0)  # (2/1 + 6/1.5) / 2
    assert row["DIV_train_test_ratio_sd"] == pytest.approx(math.sqrt(2))
    assert row["train_DIV_mean"] == pytest.approx(4.0)


def size_config():
    experiment = dict(
        dataset="c",
        models=["r18", "r34"],
        aggregations=["score", "probability"],
        ensemble_sizes=[5],
        betas=[0, 1],
        seeds=[0, 1],
        recipe="cifar",
    )
    return {
        "experiments": {
            "c10": experiment,
            "c10_size": {
                **experiment,
                "models": ["r18"],
                "aggregations": ["score"],
                "ensemble_sizes": [2, 10],
            },
            "c10_other_recipe": {**experiment, "recipe": "other"},
            "c10_double_softmax": {**experiment, "aggregations": ["probability_double_softmax"]},
        }
    }


def test_size_study_reads_its_shared_size_from_the_partner_experiment():
    config = size_config()
    studies = figures.size_study_partners(config)
    assert studies == {"c10_size": ["c10"]}  # not another recipe, not another aggregation
    rows = []
    for name, members, model, aggregation in [
        ("c10", 5, "r18", "score"),
        ("c10", 5, "r34", "score"),
        ("c10", 5, "r18", "probability"),
        ("c10_size", 2, "r18", "score"),
        ("c10_size", 10, "r18", "score"),
        ("c10_other_recipe", 5, "r18", "score"),
    ]:
        for seed in (0, 1):
            for beta in (0.0, 1.0):
                rows.append(
                    {
                        **run_rows(
                            experiment=name,
                            dataset="c",
                            model=model,
                            aggregation=aggregation,
                            members=members,
                            beta=beta,
                            seed=seed,
                        ),
                        "selection": "best_val",
                        "status": "completed",
                        "test_error": 0.1 * members + beta + 0.01 * seed,
                    }
                )
    table = tables.ensemble_size(pd.DataFrame(rows), studies)
    assert sorted(table["members"].unique()) == [2, 5, 10]
    assert set(table["model"]) == {"r18"} and set(table["aggregation"]) == {"score"}
    assert set(table.loc[table["members"] == 5, "experiment"]) == {"c10"}
    assert (table["seeds"] == 2).all() and len(
        table
    ) == 3 * 2  # each (M, β) once: nothing counted twice
    five = table[(table["members"] == 5) & (table["beta"] == 1.0)].iloc[0]
    assert five["test_error_mean"] == pytest.approx(0.5 + 1 + 0.005)


# --- the regime map: a synthetic claims.csv in the claims-table contract's format ---------------

SETTINGS = [("d", "mlp", "score", 5), ("d", "cnn", "probability", 5), ("r", "mlp", "regression", 5)]


def synthetic_claims(tmp_path) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    verdicts = list(regime_map.MARKS)
    for claim in range(1, 8):
        for index, (dataset, model, aggregation, members) in enumerate(SETTINGS):
            for selection in ("best_val", "last"):
                for endpoint in ("test_error", "test_nll"):
                    diffs = rng.normal(claim - 3, 1, 5)
                    rows.append(
                        {
                            "claim": claim,
                            "experiment": dataset,
                            "dataset": dataset,
                            "model": model,
                            "aggregation": aggregation,
                            "members": members,
                            "selection": selection,
                            "endpoint": endpoint,
                            "primary": selection == "best_val" and endpoint == "test_error",
                            "n_seeds": 5,
                            "beta0_mean": 0.1,
                            "beta1_mean": 0.2,
                            "diff_mean": diffs.mean(),
                            "ci_low": np.nan,
                            "ci_high": np.nan,
                            "effect": diffs.mean(),
                            "threshold": "",
                            "p_exact": 0.06,
                            "p_t": 0.05,
                            "p_holm": 0.1,
                            "p_bh": 0.1,
                            "verdict": verdicts[(claim + index) % len(verdicts)],
                            "n_diverged": 0,
                            "per_seed": ";".join(f"{seed}:{d:.6f}" for seed, d in enumerate(diffs)),
                            "note": "",
                        }
                    )
    path = tmp_path / "claims.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return pd.read_csv(path)  # through the CSV, as the figure reads it


def test_per_seed_differences_and_their_standardised_effect():
    assert list(regime_map.per_seed_values("0:0.5;1:1.5")) == [0.5, 1.5]
    assert list(regime_map.per_seed_values("0.5;1.5")) == [0.5, 1.5]
    assert len(regime_map.per_seed_values(float("nan"))) == 0
    assert regime_map.standardised_effect("0:0.5;1:1.5") == pytest.approx(1.0 / math.sqrt(0.5))
    assert math.isnan(regime_map.standardised_effect("0:1"))
    assert regime_map.standardised_effect("0:1;1:1") == math.inf


def test_regime_map_cells_are_the_claims_tables_primary_rows(tmp_path):
    claims = synthetic_claims(tmp_path)
    # the claims' primary endpoint is test_error: its rows in both selections are the cells
    expected = claims[claims["endpoint"] == "test_error"]
    cells = regime_map.cells(claims)
    assert len(cells) == len(expected) == 7 * len(SETTINGS) * 2
    assert list(cells["verdict"]) == list(expected["verdict"].fillna("n/a"))
    assert list(cells["selection"]) == list(expected["selection"])
    for cell, row in zip(cells.itertuples(), expected.itertuples()):
        diffs = np.array([float(p.split(":")[1]) for p in row.per_seed.split(";")])
        verdict = "n/a" if pd.isna(row.verdict) else row.verdict  # read_csv turns "n/a" into NaN
        if verdict == "n/a":  # no test: no colour
            assert math.isnan(cell.d_z)
        else:
            assert cell.d_z == pytest.approx(diffs.mean() / diffs.std(ddof=1), rel=1e-5)
        assert cell.verdict == verdict and cell.mark == regime_map.MARKS[verdict]
        assert cell.column == f"{row.claim} · test_error"

    fig = regime_map.draw({"claims": claims})
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panels] == [
        common.SELECTION_LABEL["best_val"],
        common.SELECTION_LABEL["last"],
    ]
    settings = sorted(cells["setting"].unique())
    columns = sorted(cells["column"].unique(), key=lambda c: int(c.split(" · ")[0]))
    for ax, selection in zip(panels, ("best_val", "last")):
        image = ax.images[0].get_array()
        marks = {
            (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts
        }
        part = cells[cells["selection"] == selection]
        assert len(part) == len(marks)  # one mark per row, no more
        assert (~np.ma.getmaskarray(image)).sum() == part["d_z"].notna().sum()
        for cell in part.itertuples():
            i, j = settings.index(cell.setting), columns.index(cell.column)
            if not math.isnan(cell.d_z):
                assert image[i, j] == pytest.approx(
                    np.clip(cell.d_z, -regime_map.D_LIMIT, regime_map.D_LIMIT)
                )
            assert marks[(i, j)] == cell.mark


def test_regime_map_gains_the_capacity_axis_of_a_capacity_study(tmp_path):
    # a capacity study "d" (its models' widths from the configuration) beside a setting "r"
    claims = synthetic_claims(tmp_path)
    study_mlp = claims[(claims["model"] == "mlp") & (claims["experiment"] == "d")]
    wide, narrow = study_mlp.assign(model="mlp_w128"), study_mlp.assign(model="mlp_w16")
    claims = pd.concat([claims, wide, narrow], ignore_index=True)
    plain = regime_map.cells(claims)
    by_value = pd.Series(sorted(plain["setting"].unique()))
    by_value = by_value.iloc[regime_map.natural_key(by_value).argsort()].tolist()
    assert regime_map.row_order(plain) == by_value  # by label, numbers by value (w16 < w128)
    studies = {"d": {"mlp": 4, "mlp_w16": 16, "mlp_w128": 128, "cnn": 8}}
    table = regime_map.cells(claims, studies)
    assert regime_map.row_order(table) == [
        "d · probability · M=5 · width 8",
        "d · score · M=5 · width 4",
        "d · score · M=5 · width 16",
        "d · score · M=5 · width 128",  # by width, not by name (mlp_w128 < mlp_w16)
        "r · mlp · regression · M=5",
    ]
    assert table.drop(columns=["setting", "group", "order"]).equals(
        plain.drop(columns=["setting", "group", "order"])
    )  # the same cells, only placed on the width axis
    fig = figures.draw("regime_map", {"claims": claims}, studies=studies)
    panel = next(ax for ax in fig.axes if ax.images)
    assert [t.get_text() for t in panel.get_yticklabels()] == regime_map.row_order(table)
    # a line between the capacity groups and between the study and the other setting
    assert sorted(line.get_ydata()[0] for line in panel.lines) == [0.5, 3.5]
    plain_panel = next(ax for ax in regime_map.draw({"claims": claims}).axes if ax.images)
    assert not plain_panel.lines


def drawn_texts(fig):
    """The figure's texts as drawn, with their extents (a tick label outside its axis's limits is
    not drawn and has no extent)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for text in fig.findobj(lambda artist: hasattr(artist, "get_text")):
        if text.get_visible() and text.get_text():
            box = text.get_window_extent(renderer)
            if np.isfinite(box.extents).all():
                yield text, box


def one_setting_claims(tmp_path):
    """An own experiment (winecollusion on mywine, one model) with the default's primary endpoints,
    whose names are the long claim labels."""
    claims = synthetic_claims(tmp_path)
    claims = claims[(claims["dataset"] == "d") & (claims["model"] == "mlp")]
    endpoints = {2: "test_DIV", 3: "gen_gap_matched", 4: "DIV_removed_pct"}
    endpoints |= {5: "dropout_increase", 6: "learner_gap_dynamics"}
    renamed = claims["claim"].map(endpoints).where(claims["endpoint"] == "test_error")
    return claims.assign(
        experiment="winecollusion", dataset="mywine", endpoint=renamed.fillna(claims["endpoint"])
    )


def capacity_study_claims(tmp_path):
    """A capacity study of many rows: 6 widths x 3 aggregations x 4 M, beside the other settings."""
    claims = synthetic_claims(tmp_path)
    study = claims[(claims["dataset"] == "d") & (claims["model"] == "mlp")]
    rows = [
        study.assign(model=f"mlp_w{width}", aggregation=aggregation, members=members)
        for width in (4, 8, 16, 32, 64, 128)
        for aggregation in ("score", "probability", "sum")
        for members in (2, 5, 10, 16)
    ]
    studies = {"d": {f"mlp_w{width}": width for width in (4, 8, 16, 32, 64, 128)}}
    return pd.concat([claims[claims["dataset"] == "r"], *rows], ignore_index=True), studies


@pytest.mark.parametrize("case", ["one setting", "three settings", "a capacity study"])
def test_regime_map_keeps_its_labels_and_verdict_key_within_the_figure_and_apart(tmp_path, case):
    """One setting (an own experiment): the figure, 1.5 inches tall, had no room for the claim labels
    and constrained layout gave up: the row label was cut at the left ("n: mywine · mlp · …"), the
    claim labels at the bottom, under the verdict key."""
    if case == "one setting":
        claims, studies = one_setting_claims(tmp_path), {}
    elif case == "three settings":
        claims, studies = synthetic_claims(tmp_path), {}
    else:
        claims, studies = capacity_study_claims(tmp_path)
    fig = figures.draw("regime_map", {"claims": claims}, studies=studies)
    texts = dict(drawn_texts(fig))
    for text, box in texts.items():
        assert 0 <= box.x0 and box.x1 <= fig.bbox.width, (text.get_text(), box, fig.bbox)
        assert 0 <= box.y0 and box.y1 <= fig.bbox.height, (text.get_text(), box, fig.bbox)
    cells = regime_map.cells(claims, studies)
    panels = [ax for ax in fig.axes if ax.images]
    labels = [t for ax in panels for t in ax.get_xticklabels() + ax.get_yticklabels() if t in texts]
    # every claim label under both panels, every row label beside the first
    assert len(labels) == 2 * cells["column"].nunique() + cells["setting"].nunique()
    (key,) = [t for t in texts if t.get_text().startswith("verdict (claims table)")]
    for label in labels:
        assert not texts[key].overlaps(texts[label]), label.get_text()
    common.plt.close(fig)


def test_regime_map_names_the_missing_contract_columns(tmp_path):
    claims = synthetic_claims(tmp_path).drop(columns=["primary", "per_seed"])
    assert regime_map.missing_columns(claims) == ["primary", "per_seed"]
    fig = regime_map.draw({"claims": claims})
    assert "primary, per_seed" in fig.axes[0].texts[0].get_text()


def test_claims_view_puts_primary_rows_first(tmp_path):
    claims = synthetic_claims(tmp_path)
    view = tables.claims_view(claims)
    n_primary = int(claims["primary"].sum())
    assert view["primary"].iloc[:n_primary].all() and not view["primary"].iloc[n_primary:].any()
    assert len(view) == len(claims)


def test_ensemble_size_figure_draws_one_line_per_beta_and_selection():
    from collusion.figures import ensemble_size

    table = pd.DataFrame(
        [
            {
                "study": "s",
                "experiment": "s" if m != 5 else "p",
                "dataset": "c",
                "model": "r18",
                "aggregation": "score",
                "members": m,
                "selection": selection,
                "beta": beta,
                "test_error_mean": 0.1 + beta / m,
                "test_error_sem": 0.01,
                "test_error_sd": 0.02,
                "seeds": 2,
            }
            for m in (2, 5, 10)
            for beta in (0.0, 1.0)
            for selection in ("best_val", "last")
        ]
    )
    fig = ensemble_size.draw({"ensemble_size": table})
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.lines]
    assert len(panels) == 2  # one row per selection
    for ax in panels:
        assert sorted(ax.get_xticks()) == [2, 5, 10]
        assert len(ax.containers) == 2  # one error-bar line per β


def test_a_figure_is_drawn_on_its_own_from_the_tables_a_run_left(tmp_path, capsys):
    """showyourwork style: `python -m collusion.figures <name>` in a run's working directory."""
    from collusion.figures.__main__ import main

    assert main(["regime_map", "--root", str(tmp_path)]) == 2
    assert "results/paper/claims.csv" in capsys.readouterr().err  # names what is missing
    (tmp_path / "results" / "paper").mkdir(parents=True)
    synthetic_claims(tmp_path / "results" / "paper")
    assert main(["regime_map", "--root", str(tmp_path)]) == 0
    for ext in ("pdf", "png"):
        assert (tmp_path / "results" / "paper" / "figures" / f"regime_map.{ext}").stat().st_size > 0


def test_a_figure_is_drawn_on_its_own_from_a_configurations_own_results_root(tmp_path, capsys):
    """A configuration with its own results_root (config/open_questions.yaml's is
    results/open_questions): the tables are read and the figure written under that root."""
    from collusion.figures.__main__ import main

    own = tmp_path / "results" / "open_questions"
    (own / "paper").mkdir(parents=True)
    synthetic_claims(own / "paper")
    assert main(["regime_map", "--root", str(tmp_path)]) == 2  # not under the default's results/
    assert "--results-root" in capsys.readouterr().err  # the message names the option
    assert (
        main(["regime_map", "--root", str(tmp_path), "--results-root", "results/open_questions"])
        == 0
    )
    for ext in ("pdf", "png"):
        assert (own / "paper" / "figures" / f"regime_map.{ext}").stat().st_size > 0
    assert not (tmp_path / "results" / "paper" / "figures").exists()


def test_figure_inputs_are_read_where_the_pipeline_writes_them():
    from collusion.figures import source_paths

    assert source_paths("gen_gap", ["a", "b"]) == [
        "results/tables/a/gen_gap.csv",
        "results/tables/b/gen_gap.csv",
    ]
    assert source_paths("table:ensemble_size", ["a"]) == ["results/paper/tables/ensemble_size.csv"]
    assert source_paths("claims", ["a"]) == ["results/paper/claims.csv"]
    assert source_paths("divergence", ["a"]) == ["results/tables/divergence.csv"]


def test_an_experiments_empty_table_leaves_the_others_columns_numeric(tmp_path):
    """learner_dropout.csv of an experiment whose M drops nobody has only a header; read with the
    others, it must not turn their numbers into objects (the figure failed in fill_between)."""
    from collusion.figures import draw, read_inputs

    full = tmp_path / "a.csv"
    pd.DataFrame(
        [
            {**run_rows(beta=b, seed=s), "selection": "last", "fraction": 0.4, "increase": 0.1 * b}
            for b in (0.0, 1.0)
            for s in (0, 1)
        ]
    ).to_csv(full, index=False)
    empty = tmp_path / "b.csv"
    pd.read_csv(full).iloc[:0].to_csv(empty, index=False)
    frame = read_inputs([str(empty), str(full)])
    assert len(frame) == 4 and frame["increase"].dtype == float
    assert read_inputs([str(empty)]).empty
    runs = pd.DataFrame(
        [{**run_rows(beta=b, seed=s), "status": "completed"} for b in (0, 1) for s in (0, 1)]
    )
    draw("learner_dropout", {"learner_dropout": frame, "runs": runs})


# --- the capacity map: width × M -----------------------------------------------------------------


def capacity_config():
    experiment = {
        "dataset": "mnist1d",
        "aggregations": ["score"],
        "ensemble_sizes": [2, 5],
        "recipe": "r",
    }
    return {
        "experiments": {
            "capacity": {
                **experiment,
                "models": ["w16", "w128", "default", "cnn"],
                "betas": [0.0, 0.5, 1.0],
            },
            "no_joint": {**experiment, "models": ["w16", "w128"], "betas": [0.0, 0.5]},
            "one_width": {**experiment, "models": ["w16", "w16_deep"], "betas": [0.0, 1.0]},
            "channels": {**experiment, "models": ["c4", "c32", "cnn"], "betas": [0.0, 1.0]},
        },
        "models": {
            "w16": {"arch": "mlp", "hidden": [16, 16]},
            "w16_deep": {"arch": "mlp", "hidden": [16, 16, 16]},
            "w128": {"arch": "mlp", "hidden": [128, 128]},
            "default": {"arch": "mlp"},
            "cnn": {"arch": "cnn1d"},
            "c4": {"arch": "cnn1d", "channels": 4},
            "c32": {"arch": "cnn1d", "channels": 32},
        },
    }


def test_capacity_studies_are_the_experiments_that_vary_width_with_both_extreme_betas():
    studies = figures.capacity_studies(capacity_config())
    # the MLP without `hidden` has build_mlp's default width 64; a 1-D CNN's width is its channel
    # count where the config sets it (the one without `channels` has none)
    assert studies == {
        "capacity": {"w16": 16, "w128": 128, "default": 64},
        "channels": {"c4": 4, "c32": 32},
    }


def capacity_table(p_holm):
    rows = []
    for width in (16, 128):
        for members in (2, 5):
            for selection in ("best_val", "last"):
                diff = 0.04 if width == 16 else -0.01
                rows.append(
                    {
                        "experiment": "capacity",
                        "dataset": "mnist1d",
                        "model": f"w{width}",
                        "width": width,
                        "aggregation": "score",
                        "members": members,
                        "selection": selection,
                        "diff_mean": diff,
                        "ci_low": diff - 0.01,
                        "ci_high": diff + 0.01,
                        "p_holm": p_holm if width == 16 else 1.0,
                        "DIV_beta0": 0.1,
                        "DIV_beta1": 1.0 * members,
                        "DIV_ratio": 10.0 * members,
                    }
                )
    return pd.DataFrame(rows, columns=list(rows[0]))


def test_capacity_map_draws_every_cell_with_its_difference_and_mark():
    from collusion.figures import capacity_map

    fig = capacity_map.draw({"capacity": capacity_table(p_holm=0.01)})
    maps = [ax for ax in fig.axes if ax.images]
    assert len(maps) == 4  # (error difference, DIV ratio) × two selections
    error_map = maps[0]
    assert [t.get_text() for t in error_map.get_yticklabels()] == ["16", "128"]
    assert [t.get_text() for t in error_map.get_xticklabels()] == ["2", "5"]
    labels = sorted(t.get_text() for t in error_map.texts)
    assert labels == sorted(["+4.0*\n[3.0, 5.0]"] * 2 + ["-1.0\n[-2.0, 0.0]"] * 2)
    assert sorted(t.get_text() for t in maps[1].texts) == ["20×", "20×", "50×", "50×"]
    fig = capacity_map.draw({"capacity": capacity_table(p_holm=0.2)})
    assert not any("*" in t.get_text() for ax in fig.axes for t in ax.texts)


def test_capacity_map_marks_the_under_trained_cells(tmp_path):
    from collusion.figures import capacity_map

    table = capacity_table(p_holm=0.2)
    table["under_trained"] = np.where(table["selection"] == "last", None, table["width"] == 16)
    table.to_csv(tmp_path / "capacity.csv", index=False)  # as the figure reads it
    fig = capacity_map.draw({"capacity": pd.read_csv(tmp_path / "capacity.csv")})
    error_map = [ax for ax in fig.axes if ax.images][0]  # best_val
    marked = sorted(
        t.get_text() for t in error_map.texts if capacity_map.UNDER_TRAINED in t.get_text()
    )
    assert marked == ["+4.0‡\n[3.0, 5.0]"] * 2  # width 16, both M
    assert "under-trained" in fig.texts[-1].get_text()


def test_capacity_map_shows_the_div_difference_where_a_div_is_not_positive():
    """Under summed logits DIV can be ≤ 0 at β = 0, and a ratio of DIVs then means nothing: that
    group's map shows DIV β = 1 − β = 0 on a linear scale (before, it printed negative ratios
    such as "-3×", coloured by a scale made for ratios)."""
    from collusion.figures import capacity_map

    table = capacity_table(p_holm=0.2)
    table.loc[table["width"] == 128, ["DIV_beta0", "DIV_ratio"]] = [-0.5, -3.0]
    fig = capacity_map.draw({"capacity": table})
    div_map = [ax for ax in fig.axes if ax.images][1]
    assert "β=1 − β=0" in div_map.get_title()
    labels = sorted(t.get_text() for t in div_map.texts)
    assert labels == sorted(["+1.9", "+4.9", "+2.5", "+5.5"])  # DIV_beta1 − DIV_beta0
    assert not any("×" in label for label in labels)
    plain = capacity_map.draw({"capacity": capacity_table(p_holm=0.2)})
    assert "β=1 / β=0" in [ax for ax in plain.axes if ax.images][1].get_title()


def test_capacity_map_without_a_study_says_why():
    from collusion.figures import capacity_map

    fig = capacity_map.draw({"capacity": pd.DataFrame(columns=tables.CAPACITY_COLUMNS)})
    assert "member width" in fig.axes[0].texts[0].get_text()


def test_mitigation_answers_at_one_beta_never_overlap():
    """Two mitigated points at the same β and error: their answers, as drawn, apart and right of
    the rightmost marker; a lone point's answer stays at its height."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    from collusion.figures import mitigations

    fig, ax = plt.subplots(figsize=(3, 2), layout="constrained")
    ax.plot([0, 1], [30, 40])
    labels = [(1.0, 1.025, 38.0, "worse", "C0"), (1.0, 1.05, 38.0, "recovers", "C1")]
    labels.append((0.5, 0.525, 33.0, "no recovery shown", "C0"))
    mitigations.place_answers(ax, labels, fontsize=5)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = {a.get_text(): Text.get_window_extent(a, renderer) for a in ax.texts}  # no line
    assert not box["worse"].overlaps(box["recovers"])
    rightmost = ax.transData.transform((1.05, 38.0))[0]
    assert box["worse"].x0 > rightmost and box["recovers"].x0 > rightmost
    lone = ax.transData.transform((0.525, 33.0))[1]
    assert (box["no recovery shown"].y0 + box["no recovery shown"].y1) / 2 == pytest.approx(lone)
    plt.close(fig)


# --- axes and colours a reader can read ----------------------------------------------------------


def test_log_ticks_are_a_few_round_numbers_over_the_range():
    # hand-worked: the finest 1-2-5-like steps with at most six ticks inside the range
    assert common.log_ticks(0.45, 25) == pytest.approx([0.5, 1, 2, 5, 10, 20])
    assert common.log_ticks(0.12, 20.2) == pytest.approx([0.3, 1, 3, 10])  # 1-2-5 would give 7
    assert common.log_ticks(33, 60) == pytest.approx([40, 50, 60])
    assert common.log_ticks(8.5, 33) == pytest.approx([10, 20, 30])  # not 9 beside 10
    assert common.log_ticks(0.31, 0.36) == pytest.approx([0.31, 0.36])  # no two round ticks inside
    # fifteen decades: every third power of ten
    assert common.log_ticks(1e-7, 1e8) == pytest.approx([1e-6, 1e-3, 1, 1e3, 1e6])
    assert [common.plain_number(t) for t in (0.003, 0.5, 20, 1000)] == [
        "0.003",
        "0.5",
        "20",
        "1000",
    ]
    assert common.plain_number(1e6) == "$10^{6}$"


def sweep_runs(errors):
    """A runs table of one regression setting: per β, (ensemble, learners) test error per seed."""
    rows = []
    for beta, (ensemble, learners) in errors.items():
        for seed in range(3):
            for selection in ("best_val", "last"):
                rows.append(
                    {
                        **run_rows(aggregation="regression", beta=beta, seed=seed),
                        "selection": selection,
                        "status": "completed",
                        "test_error": ensemble * (1 + 0.01 * seed),
                        "test_learner_error": learners * (1 + 0.01 * seed),
                        "test_DIV": 0.02 * (1 + 10 * beta) * (1 + 0.1 * seed),
                    }
                )
    return pd.DataFrame(rows)


def axis_share(ax, low, high):
    """The fraction of the panel's height between two data values."""
    (_, y0), (_, y1) = ax.transData.transform([(0, low), (0, high)])
    bottom, top = ax.get_window_extent().y0, ax.get_window_extent().y1
    return abs(y1 - y0) / (top - bottom)


def test_beta_sweep_detail_shows_the_ensembles_change_beside_far_worse_learners():
    # diabetes-like: the ensemble's MSE doubles while the learners' grows 25-fold; on a linear axis
    # up to the learners' 20 the ensemble's change took 2 % of the panel's height
    runs = sweep_runs({0.0: (0.55, 0.8), 0.5: (0.6, 1.0), 1.0: (1.1, 20.0)})
    fig = figures.draw("beta_sweep_detail", {"runs": runs})
    fig.canvas.draw()
    (ax,) = [ax for ax in fig.axes if ax.get_visible()]
    assert axis_share(ax, 0.55, 1.1) > 0.1


@pytest.mark.parametrize("name", ["beta_sweep_detail", "diversity"])
def test_a_one_panel_legend_is_not_cut_at_the_sides(name):
    """One setting (an own dataset with one model, say): the legend's two columns of long labels
    were wider than the one panel's figure, and cut at both sides."""
    runs = sweep_runs({0.0: (0.55, 0.8), 1.0: (1.1, 20.0)})
    fig = figures.draw(name, {"runs": runs})
    fig.canvas.draw()
    assert fig.legends
    for legend in fig.legends:
        box = legend.get_window_extent()
        assert 0 <= box.x0 and box.x1 <= fig.bbox.width, (box, fig.bbox)


def test_one_settings_beta_sweep_keeps_its_title_and_its_band_within_the_figure_and_100_percent():
    """An own experiment (winecollusion on mywine, one model): the panel title ran past the figure's
    right edge ("winecollusion: mywine · score · M…"), and near 100 % accuracy the ± 2·SEM band of
    a few seeds went above 100 %."""
    rows = [
        {
            **run_rows(experiment="winecollusion", dataset="mywine", model="mlp", members=5),
            "beta": beta,
            "seed": seed,
            "selection": selection,
            "status": "completed",
            "test_acc": (1.0, 1.0, 0.9)[seed % 3],  # mean 96.7 %, 2·SEM 6.7 points
        }
        for beta in (0.0, 0.5, 1.0)
        for seed in range(3)
        for selection in ("best_val", "last")
    ]
    fig = figures.draw("beta_sweep", {"runs": pd.DataFrame(rows)})
    fig.canvas.draw()
    for ax in fig.axes:
        box = ax.title.get_window_extent()
        assert 0 <= box.x0 and box.x1 <= fig.bbox.width, (ax.title.get_text(), box, fig.bbox)
        assert "winecollusion:" in ax.title.get_text() and "M=5" in ax.title.get_text()
        (shade,) = ax.collections
        heights = np.concatenate([path.vertices[:, 1] for path in shade.get_paths()])
        assert heights.max() == pytest.approx(100) and heights.min() == pytest.approx(90)


def test_error_bands_are_clipped_to_what_the_metric_can_take():
    frame = pd.DataFrame({"beta": [0, 0, 0], "value": [0.0, 0.0, 3.0]})  # mean 1, 2·SEM 2
    assert common.band(frame, ["beta"], "value", "2sem")["low"].item() == pytest.approx(-1)
    clipped = common.band(frame, ["beta"], "value", "2sem", common.error_range("score"))
    assert clipped["low"].item() == 0 and clipped["high"].item() == pytest.approx(3)
    assert common.error_range("regression") == (0.0, None)


@pytest.mark.parametrize(
    "name, tables, needs",
    [
        ("wood", {"wood": pd.DataFrame()}, ["seeds share one test set", "split_column"]),
        (
            "mitigations",
            {"mitigation_claims": pd.DataFrame(), "runs": pd.DataFrame()},
            ["turns a mitigation on", "baseline: names its unmitigated"],
        ),
    ],
)
def test_a_figure_without_its_experiment_says_what_it_needs_and_where(name, tables, needs):
    """A one-setting own experiment gets these figures on request (a named rule): each says, in
    the image, that the configuration has no such experiment, what one needs, and the page."""
    fig = figures.draw(name, tables)
    (text,) = [t.get_text().replace("\n", " ") for ax in fig.axes for t in ax.texts]
    assert "in this configuration" in text and "config/README.md" in text, text
    for part in needs:
        assert part in text, text


def visible_labels(ax):
    return [t.get_text() for t in ax.get_yticklabels(which="both") if t.get_text()]


def test_log_axes_carry_a_few_plain_labels():
    runs = sweep_runs({0.0: (0.55, 0.8), 0.5: (0.6, 1.0), 1.0: (1.1, 20.0)})
    fig = figures.draw("diversity", {"runs": runs})
    fig.canvas.draw()
    log_axes = [ax for ax in fig.axes if ax.get_yscale() == "log"]
    assert log_axes
    for ax in log_axes:
        labels = visible_labels(ax)
        # matplotlib's own labelled minor ticks of a short range: 2×10⁻¹, 3×10⁻¹, 4×10⁻¹, ...
        assert 2 <= len(labels) <= 6 and not any("times" in label for label in labels), labels


def test_compared_checkpoints_have_bands_of_two_hues():
    """Two grey bands (black and grey at the same transparency) overlap into one grey."""
    import matplotlib.colors as mcolors

    runs = sweep_runs({0.0: (0.55, 0.8), 0.5: (0.6, 1.0), 1.0: (1.1, 20.0)})
    debias = pd.DataFrame(
        [
            {**run_rows(aggregation="regression", beta=b, seed=s), "selection": sel}
            | {"DIV_decrease_pct": 10.0 * b + s}
            for b in (0.0, 1.0)
            for s in range(3)
            for sel in ("best_val", "last")
        ]
    )
    for name, tables_in in (
        ("diversity", {"runs": runs}),
        ("debias", {"debias": debias, "runs": runs}),
    ):
        fig = figures.draw(name, tables_in)
        ax = next(ax for ax in fig.axes if ax.collections)
        colours = {tuple(c.get_facecolor()[0][:3]) for c in ax.collections}
        assert len(colours) == 2, name
        saturation = [mcolors.rgb_to_hsv(c)[1] for c in colours]
        assert max(saturation) > 0.5, f"{name}: the bands differ in lightness only"


def test_a_configuration_builds_only_the_figures_and_tables_it_can_draw():
    from collusion.config_errors import load_config

    config = load_config(REPO / "tests" / "configs" / "tiny.yaml")
    # digits and diabetes split with each run's seed: no two seeds share a test set (Wood)
    assert set(figures.FIGURES) - set(figures.drawn_figures(config)) == {
        "ensemble_size",
        "capacity_map",
        "wood",
        "budget",
    }
    assert set(figures.PAPER_TABLES) - set(figures.drawn_tables(config)) == {
        "ensemble_size",
        "capacity",
        "capacity_flip",
        "wood",
        "budget",
    }
    shared = copy.deepcopy(config)
    shared["experiments"]["digits"]["split"]["seed"] = 3
    assert "wood" in figures.drawn_figures(shared)
    # no mitigation, no β > 1, no classification: three more figures would only say why empty
    for name in ("digits_dropout", "digits_gncl", "beta_above_one", "digits"):
        del config["experiments"][name]
    config["experiments"]["diabetes"]["betas"] = [0.0, 0.5, 1.0]
    assert set(figures.FIGURES) - set(figures.drawn_figures(config)) == {
        "ensemble_size",
        "capacity_map",
        "mitigations",
        "divergence",
        "beta_sweep",
        "wood",
        "budget",
    }
    assert "divergence" not in figures.drawn_tables(config)
    assert figures.varies_size(size_config()) and figures.varies_width(capacity_config())


def test_regime_map_rows_order_ensemble_sizes_by_value():
    """M=2, 5, 10, 16 top to bottom, not as text (M=10, M=16, M=2, M=5)."""
    import pandas as pd

    from collusion.figures.regime_map import row_order

    labels = [f"e: d · mlp · score · M={m}" for m in (10, 16, 2, 5)]
    table = pd.DataFrame({"setting": labels, "group": labels, "order": 0})
    assert [label.rsplit("=", 1)[1] for label in row_order(table)] == ["2", "5", "10", "16"]
