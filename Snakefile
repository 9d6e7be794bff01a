# Joint Training of Deep Ensembles Fails Due to Learner Collusion: the reproduction pipeline.
# `snakemake --cores all` regenerates results/paper/ on config/config.yaml.


# The default configuration, unless one is given: `--configfile other.yaml` replaces it (rather
# than being merged over it, which would mix the two configurations' experiments).
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        paper_targets(),
