# Training (collusion.plan). An experiment with pack_betas (auto: the CPU-sized datasets) trains
# every β of one (model, aggregation, M, seed) as one pack, and pack_seeds such packs in one job:
# one rule per job, train_pack_<experiment>_<model>_<aggregation>_M<m>_seed<s…>, planned from the
# runs that are not done (adding a β, a seed or an M trains only the new runs; -R train, or a
# job's rule, or a run's file, forces). The other experiments train one job per run, `train`.
# Every training rule carries its runs' identities (spec, split, the code they train with): an
# edit to what a run uses reruns it, and nothing else.

from collusion import plan

TRAIN_RETRIES = None if workflow.remote_exec else train_retries()
PACK_JOBS = plan.pack_jobs(config, plan.Forced.of_command_line(sys.argv[1:]))
PACKED = plan.packed_experiments(config)


def run_job(wildcards):
    return plan.run_job(config, run_of(wildcards)).to_dict()


def run_identity(wildcards):
    return plan.run_identity(config, run_of(wildcards))


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
        job=run_job,
        identity=run_identity,
    script:
        "../scripts/train.py"


for _job in PACK_JOBS:
    _needs = costs.train_resources(config, _job.runs[0], len(_job.runs))

    rule:
        name:
            _job.slot.rule
        input:
            data=pipeline.prepared_path(_job.slot.dataset),
        output:
            _job.outputs,
        log:
            f"logs/train/{_job.slot.key}.log",
        benchmark:
            f"results/benchmarks/train/{_job.slot.key}.tsv"
        priority: _needs["minutes"]
        retries: TRAIN_RETRIES
        group:
            train_group(lambda wc, needs=_needs: needs)
        conda:
            TORCH_ENV
        threads: 1
        resources:
            **train_cluster_resources(lambda wc, needs=_needs: needs),
            mem_mb=train_mem_mb,
        params:
            job=_job.job.to_dict(),
            identity=[plan.run_identity(config, run) for run in _job.runs],
        script:
            "../scripts/train.py"
