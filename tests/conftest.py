"""Shared test settings."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tests use tiny tensors: intra-op threads only add wake-up latency, and spinning threads slow
    them badly when other jobs share the cores (CPU training is also bit-reproducible only at a
    fixed thread count)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
