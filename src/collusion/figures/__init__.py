"""One module per figure; each has ``draw(tables) -> Figure`` reading tidy tables only."""

FIGURES = ("beta_sweep", "diversity", "gen_gap", "debias", "learner_dropout", "dynamics", "divergence")
