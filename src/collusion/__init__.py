"""Joint training of deep ensembles: the paper's math, models, training and diagnostics."""

__version__ = "0.1.0"
