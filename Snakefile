# Joint Training of Deep Ensembles Fails Due to Learner Collusion: the reproduction pipeline.
# `snakemake --cores all` regenerates results/paper/ on config/config.yaml.


import os
import signal

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


# Inside a SLURM job, SLURM's warning signal before the time limit (USR1, see profiles/slurm/
# partitions.yaml) is for the training process, which saves its checkpoint and exits; the
# snakemake processes between it and SLURM ignore it (the default action would kill them first).
if "SLURM_JOB_ID" in os.environ:
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)

# The cluster file's account, for every job (a rule's own slurm_account, or --set-resources, wins).
if CLUSTER.account:
    for _rule in workflow.rules:
        if "slurm_account" not in _rule.resources:
            _rule.resources["slurm_account"] = CLUSTER.account


# SLURM: the submitting run's checks and adaptations (collusion.slurm_run), before any submission.
# JOB_ERRORS keeps what the executor reports for each failed job (Snakemake drops it for group
# jobs) for the onerror report.
JOB_ERRORS = {}


onstart:
    if on_slurm():
        from snakemake.logging import logger
        from collusion import slurm_run

        problems = slurm_run.start_problems(
            getattr(workflow.executor_settings, "status_command", None),
            slurm_run.planned_gpus(
                job for job in workflow.dag.needrun_jobs() if not job.is_local
            ),
            CLUSTER.gpu_request,
        )
        if problems:
            raise WorkflowError(
                "this run cannot work on this SLURM cluster:\n- "
                + "\n- ".join(problems)
            )
        has_account = any(
            "slurm_account" in rule.resources for rule in workflow.rules
        )
        # the plugin's executor, as the scheduler holds it (Snakemake 9 has no public handle)
        for note in slurm_run.adapt(
            workflow.scheduler._executor,
            workflow.executor_settings,
            has_account,
            JOB_ERRORS,
        ):
            logger.info(note)
    # this root's configuration, recorded once the run is known to start (collusion.root_owner)
    if workflow.is_main_process:
        root_owner.claim(RESULTS, CONFIG_FILES)


onerror:
    # every failed job's cause and logs (grouped jobs too, whose errors Snakemake prints without one)
    from collusion.failures import FailedJob, failure_report

    failed = []
    for job in workflow.scheduler.failed:
        members = job.jobs if job.is_group() else [job]
        name = f"group {job.groupid}" if job.is_group() else f"rule {job.rule.name}"
        logs = [str(f) for member in members for f in member.log]
        failed.append(
            FailedJob(
                name, str(job.jobid), logs, JOB_ERRORS.get(str(job.jobid), [])
            )
        )
    # snakemake's own log of this run (a list of paths in Snakemake 9)
    run_logs = [
        Path(f) for f in (log if isinstance(log, (list, tuple)) else [log]) if f
    ]
    if failed:
        print(
            failure_report(
                failed,
                "".join(
                    f.read_text(errors="replace") for f in run_logs if f.exists()
                ),
                slurm=on_slurm(),
                slurm_logdir=getattr(workflow.executor_settings, "logdir", None)
                or "logs/slurm",
                main_log_path=", ".join(map(str, run_logs)) or ".snakemake/log/",
            ),
            file=sys.stderr,
        )
