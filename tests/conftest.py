from __future__ import annotations

import os

import pytest
import torch

# Without a GPU the Triton kernels are tested in Triton's interpreter, which has to be chosen
# before Triton is first imported (it decides how Triton's own library functions are built);
# importing torch does not import Triton.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
