# Training. An experiment with pack_betas (auto: the CPU-sized datasets) trains every β of one
# (model, aggregation, M, seed) as one pack, and pack_seeds such packs (seeds) in one job (stacked
# MLPs as one program, other learners one seed after the other),
# `train_pack_<experiment>[_seeds<s>_<t>…]`; the others train one job per run, `train`. Both write
# the same run directories. The training code's fingerprint is a param: an edit to the modules that
# define training (collusion.fingerprint) reruns the training jobs.

from collusion.fingerprint import code_fingerprint

try:
    pipeline.check_packs(config)
except pipeline.ConfigError as error:
    raise WorkflowError(f"config error: {error}") from None

PACKED = pipeline.packed_experiments(config)
# failures, plus the segments of runs longer than the cap; none inside a SLURM job, whose job step
# would otherwise restart a stopped run in the same allocation, at its time limit
TRAIN_RETRIES = None if workflow.remote_exec else train_retries()
CODE_FINGERPRINT = code_fingerprint()


rule train:
    """Fit one ensemble of M learners at one β and seed; resumes from checkpoint.pt if present."""
    input:
        data=lambda wc: pipeline.prepared_path(wc.dataset),
    output:
        history=f"{pipeline.RUN_DIR}/history.csv",
        predictions=f"{pipeline.RUN_DIR}/predictions.npz",
        provenance=f"{pipeline.RUN_DIR}/provenance.json",
    log:
        f"logs/train/{pipeline.RUN_KEY}.log",
    benchmark:
        f"results/benchmarks/train/{pipeline.RUN_KEY}.tsv"
    wildcard_constraints:
        experiment=pipeline.one_of(e for e in EXPERIMENTS if e not in PACKED),
    priority: train_priority(run_train_resources)
    retries: TRAIN_RETRIES
    group:
        train_group(run_train_resources)  # CPU-sized runs share SLURM jobs
    conda:
        TORCH_ENV
    threads: 1
    resources:
        **train_cluster_resources(run_train_resources),
        mem_mb=train_mem_mb,
    params:
        spec=lambda wc: pipeline.run_spec(config, run_of(wc)).to_dict(),
        split=lambda wc: pipeline.split_config(config, run_of(wc)),
        keep_checkpoint=config["keep_checkpoints"],
        code=CODE_FINGERPRINT,
    script:
        "../scripts/train.py"


for _experiment, _seeds in (
    (e, seeds) for e in PACKED for seeds in pipeline.seed_jobs(config, e)
):
    # one rule per group of seeds (pack_seeds), or one whose seed is a wildcard (a seed per job)
    _exp = config["experiments"][_experiment]
    _job_key = pipeline.pack_job_key(config, _experiment, _seeds)
    _functions = pipeline.pack_functions(config, _experiment, _seeds)

    rule:
        name:
            f"train_pack_{_experiment}"
            + (f"_{pipeline.seeds_label(_seeds)}" if _seeds else "")
        input:
            data=pipeline.prepared_path(_exp["dataset"]),
        output:
            **pipeline.pack_outputs(config, _experiment, _seeds),
        log:
            f"logs/train/{_job_key}.log",
        benchmark:
            f"results/benchmarks/train/{_job_key}.tsv"
        wildcard_constraints:
            model=pipeline.one_of(_exp["models"]),
            aggregation=pipeline.one_of(_exp["aggregations"]),
            members=pipeline.one_of(_exp["ensemble_sizes"]),
            seed=pipeline.one_of(_exp["seeds"]),
        priority: train_priority(_functions["resources"])
        retries: TRAIN_RETRIES
        group:
            train_group(_functions["resources"])
        conda:
            TORCH_ENV
        threads: 1
        resources:
            **train_cluster_resources(_functions["resources"]),
            mem_mb=train_mem_mb,
        params:
            packs=_functions["packs"],
            job_dir=f"results/runs/{_job_key}" if _seeds else None,
            keep_checkpoint=config["keep_checkpoints"],
            code=CODE_FINGERPRINT,
        script:
            "../scripts/train.py"
