# Training (collusion.plan). An experiment with pack_betas (auto: the CPU-sized datasets) trains
# every β of one (model, aggregation, M, seed) as one pack, and pack_seeds such packs in one job:
# one rule per job, train_pack_<experiment>_<model>_<aggregation>_M<m>_seed<s…>, planned from the
# runs that are not done (adding a β, a seed or an M trains only the new runs). `train` trains one
# run: every run of the other experiments, and it holds a packed run once its pack has trained it
# (a target must have a rule; a rule without wildcards, a pack's, wins over it while the run needs
# training); forced (-R train, --forcerun <a run's file>, -F) it retrains the run alone, exactly
# as its pack would. A run's identity (spec, split, the code it trains with) decides what reruns:
# the plan's for packed runs, `train`'s params for the others.
# All training rules are one rule block: Snakemake records a rule's code with its outputs and
# reruns an output whose rule's code differs, so a run trained by a pack and held by `train`
# must find the same code in both.

TRAIN_RETRIES = None if workflow.remote_exec else train_retries()


TRAINING_RULES = [
    SimpleNamespace(
        name="train",
        data=lambda wc: pipeline.prepared_path(wc.dataset),
        outputs={
            name.split(".")[0]: pipeline.run_output_pattern(RESULTS, name)
            for name in pipeline.RUN_OUTPUTS
        },
        key=pipeline.RUN_KEY,
        priority=train_priority(run_train_resources),
        resources=run_train_resources,
        job=train_job_param,
        identity=train_identity_param,
    )
] + [
    pack_rule_spec(job)
    for job in plan.pack_jobs(config, source_file("workflow", "scripts", "train.py"))
]


for _rule in TRAINING_RULES:

    rule:
        name:
            _rule.name
        input:
            data=_rule.data,
        output:
            **_rule.outputs,
        log:
            f"{LOGS}/train/{_rule.key}.log",
        benchmark:
            f"{RESULTS}/benchmarks/train/{_rule.key}.tsv"
        priority: _rule.priority
        retries: TRAIN_RETRIES
        group:
            train_group(_rule.resources)  # CPU-sized runs share SLURM jobs
        conda:
            TORCH_ENV
        threads: 1
        resources:
            **train_cluster_resources(_rule.resources),
            mem_mb=train_mem_mb,
        params:
            job=_rule.job,
            identity=_rule.identity,
        script:
            "../scripts/train.py"
