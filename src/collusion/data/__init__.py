"""Datasets: sources (download + checksum), preparation into one compact file (prepared.py: the
format and the reader training uses), the offline scikit-learn data, and device-side augmentation.

Import the submodules directly; this package imports nothing, so that light jobs stay light.
"""
