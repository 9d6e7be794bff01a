"""Speed benchmark: our ensemble training against a faithful re-implementation of the authors' loop.

    python -m collusion.bench [--quick] [--models mlp,cnn,resnet18] [--epochs N] [--steps N]
                              [--device cpu|cuda] [--executions auto,loop,stacked,vmapped]
                              [--precisions bf16,fp32] [--compile] [--out benchmarks]

In one process and on the same data (the same prepared file, the same split, the same initial
weights, the same objective ``objective.beta_objective``), each model is trained for the same
number of epochs (or, with ``--steps``, periods of that many minibatches) by

- ``authors_loop`` (authors_loop.py): the authors' training loop as their code runs it;
- ``ours`` (ours.py): ``collusion.train.Trainer``, the ensemble executed as ``--executions`` says.

Each row of ``<out>/results.csv`` holds the training throughput (images/s; periods after the first,
the warm-up, when there are several; the first period's seconds are a column), the peak memory, the
ratio to the authors' loop of the same invocation, the test accuracy of the ensemble after the last
period (so speed is never bought with a different result), the evaluation throughput, and for the
paper's CIFAR ResNet-18 the time of one 80-epoch job extrapolated from both rates. Peak memory: on
CUDA ``torch.cuda.max_memory_allocated``; on CPU the peak resident memory above the resident memory
when the implementation started, each implementation's own copy of the data included.

``<out>/pipeline.csv`` gets the pipeline's overhead (pipeline_overhead.py, imported only then: it
needs the workflow's packages, which a GPU machine may lack). Rows are appended as they are
measured; every row has the date, the commit, the device, torch's and CUDA's versions and the
machine load when it started; a run that fails is reported and the next one measured. The models
and their data: cases.py; timing and memory: measure.py; the command: cli.py; the GPU check's
Python steps: gpu_check.py and evaluation.py.
"""

from .cases import CASES, Case, synthetic_cifar
from .cli import RESULT_COLUMNS, main, parse_args

__all__ = ["CASES", "RESULT_COLUMNS", "Case", "main", "parse_args", "synthetic_cifar"]
