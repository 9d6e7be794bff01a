"""One module per figure; each has ``draw(tables) -> Figure`` and reads tidy tables only.

The figure list, and the tables each figure draws, are in workflow/rules/common.smk (FIGURES).
"""
