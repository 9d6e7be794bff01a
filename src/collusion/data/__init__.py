"""Datasets: sources (download + checksum), preparation into one compact file, and the reader."""

from .prepared import Dataset, Split, load_dataset, random_split, save_prepared

__all__ = ["Dataset", "Split", "load_dataset", "random_split", "save_prepared"]
