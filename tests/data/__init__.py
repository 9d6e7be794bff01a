"""Builders of tiny raw files in the exact on-disk formats of the paper's datasets."""
