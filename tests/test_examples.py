"""The examples run end to end (short runs): the imperative digits classifier and the
Module-based training script, whose checkpoint reload must score the same."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args):
    out = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@pytest.mark.slow
def test_imperative_example():
    out = _run("examples/digits_imperative.py", "--epochs", "2")
    assert "test accuracy" in out.lower()


@pytest.mark.slow
@pytest.mark.parametrize("network", ["mlp", "lenet"])
def test_train_mnist_example(network):
    out = _run("examples/train_mnist.py", "--network", network, "--epochs", "2")
    acc = float(out.split("final validation accuracy:")[1].split()[0])
    assert acc > 0.5, out
    assert f"reloaded checkpoint scores {acc:.4f}" in out
