"""The four UCI regression tables of the paper's diagnostics, read from their extracted zips.

The preprocessing follows the same authors' tabular code (docs/paper.md#the-authors-recipes):

- bioconcentration (UCI 510, Grisoni_et_al_2016_EnvInt88.csv, comma-separated, 779 rows): the 9
  molecular descriptors; nHM, N-072, B02[C-N] and F04[C-O] one-hot encoded (every level);
  target logBCF. CAS, SMILES, Set and Class are not used.
- weather (UCI 514, Bias_correction_ucl.csv, comma-separated, 7752 rows + 2 summary rows with
  no station/date): rows with any missing value dropped, then the first 1000 rows; station
  one-hot encoded without its first level; Date and Next_Tmin dropped; target Next_Tmax.
- facebook (UCI 368, dataset_Facebook.csv, ';'-separated, 500 rows): rows with a missing value
  dropped (495 remain); Type one-hot encoded (every level); target Lifetime Post Total
  Impressions; every other column is a feature.
- abalone (UCI 1, abalone.data, no header, 9 columns, first = Sex M/F/I): the first 1000 rows;
  Sex one-hot encoded without its first level (F); target Rings (last column).

One-hot columns are appended after the numeric ones in sorted level order. X is a float32 table;
no split is stored: the training job splits with the run seed and standardises X and y on the
training part (collusion.data.prepared.load_dataset).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

UCI_DATASETS = ("bioconcentration", "weather", "facebook", "abalone")

# dataset -> (source, file inside the archive)
UCI_FILES = {
    "bioconcentration": ("uci_bioconcentration", "Grisoni_et_al_2016_EnvInt88.csv"),
    "weather": ("uci_weather", "Bias_correction_ucl.csv"),
    "facebook": ("uci_facebook", "dataset_Facebook.csv"),
    "abalone": ("uci_abalone", "abalone.data"),
}


def find_file(root: str | Path, filename: str) -> Path:
    """The one file called ``filename`` (case-insensitive) anywhere under ``root``."""
    matches = [
        p for p in Path(root).rglob("*") if p.is_file() and p.name.lower() == filename.lower()
    ]
    if len(matches) != 1:
        found = "none" if not matches else ", ".join(map(str, matches))
        raise FileNotFoundError(f"expected one {filename} under {root}, found {found}")
    return matches[0]


def read_uci(name: str, root: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(X float32 (N, D), y float32 (N,), feature names) of UCI table ``name`` extracted at ``root``."""
    if name not in UCI_FILES:
        raise ValueError(f"unknown UCI dataset {name!r}; allowed: {', '.join(UCI_DATASETS)}")
    path = find_file(root, UCI_FILES[name][1])
    if name == "bioconcentration":
        table = pd.read_csv(path)
        features = [
            "nHM",
            "piPC09",
            "PCD",
            "X2Av",
            "MLOGP",
            "ON1V",
            "N-072",
            "B02[C-N]",
            "F04[C-O]",
        ]
        X = _one_hot(table[features], ["nHM", "N-072", "B02[C-N]", "F04[C-O]"], drop_first=False)
        y = table["logBCF"]
    elif name == "weather":
        table = pd.read_csv(path).dropna().iloc[:1000]
        table["station"] = table["station"].astype(int)  # read as float: the summary rows have none
        X = _one_hot(
            table.drop(columns=["Date", "Next_Tmax", "Next_Tmin"]), ["station"], drop_first=True
        )
        y = table["Next_Tmax"]
    elif name == "facebook":
        table = pd.read_csv(path, sep=";").dropna()
        target = "Lifetime Post Total Impressions"
        X = _one_hot(table.drop(columns=[target]), ["Type"], drop_first=False)
        y = table[target]
    else:  # abalone
        table = pd.read_csv(path, header=None).iloc[:1000]
        table.columns = [
            "Sex",
            "Length",
            "Diameter",
            "Height",
            "Whole weight",
            "Shucked weight",
            "Viscera weight",
            "Shell weight",
            "Rings",
        ]
        X = _one_hot(table.drop(columns=["Rings"]), ["Sex"], drop_first=True)
        y = table["Rings"]
    return X.to_numpy(np.float32), y.to_numpy(np.float32), [str(c) for c in X.columns]


def _one_hot(frame: pd.DataFrame, columns: list[str], drop_first: bool) -> pd.DataFrame:
    numeric = frame.drop(columns=columns)
    encoded = [
        pd.get_dummies(frame[column], prefix=column, drop_first=drop_first, dtype=np.float32)
        for column in columns
    ]
    return pd.concat([numeric, *encoded], axis=1)
