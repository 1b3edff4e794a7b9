import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    # The machine is shared by several agents; tests never take more than one core.
    torch.set_num_threads(1)
    yield
