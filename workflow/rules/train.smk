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
    group:
        lambda wc: None if train_gpu(wc) else "train_cpu"  # CPU-sized runs share SLURM jobs
    conda:
        TORCH_ENV
    threads: 1
    resources:
        gpu=train_gpu,
        runtime=train_runtime,
        mem_mb=lambda wc, input, attempt: int(2000 + 3 * input.size_mb) * attempt,
    params:
        spec=lambda wc: pipeline.run_spec(config, run_of(wc)).to_dict(),
        split=lambda wc: pipeline.split_config(config, run_of(wc)),
        keep_checkpoint=config["keep_checkpoints"],
    script:
        "../scripts/train.py"
