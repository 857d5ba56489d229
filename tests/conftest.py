"""Shared fixtures: `ctx` runs a test on each OpenCL device selected for testing, `seed` makes
every test's randomness replayable, `dtype_of` lists the dtypes the device supports."""
from __future__ import annotations

import os
import random

import numpy as np
import pytest

# Two pocl CPU devices, so cross-device code is tested on one machine (read when OpenCL
# enumerates platforms, which clnet does lazily after this line).
os.environ.setdefault("POCL_DEVICES", "pthread pthread")
# The suite builds each of its hundreds of programs once; storing their binaries would make
# pocl compile every kernel of each (see runtime.device.cache_dir). The cache has its own test.
os.environ.setdefault("CLNET_DISK_CACHE", "0")
os.environ.setdefault("CLNET_GEMM_TUNE", "0")  # no measured GEMM search in the suite
os.environ.setdefault("CLNET_CONV_TUNE", "0")  # nor convolution method search

import clnet as mx  # noqa: E402
from clnet.dtype import DTYPES  # noqa: E402
from clnet.runtime import discovery, get_device  # noqa: E402


def _test_contexts():
    """Contexts whose "platform / device" name contains CLNET_TEST_DEVICES (default: all,
    the first device of each kind only, so a two-device pocl setup does not double the run)."""
    pattern = os.environ.get("CLNET_TEST_DEVICES", "").lower()
    found = []
    for kind in ("cpu", "gpu"):
        pairs = discovery.devices_of_kind(kind, missing_ok=True)
        for i, (p, d) in enumerate(pairs[:1]):
            if pattern in discovery.full_name(p, d).lower():
                found.append(mx.Context(kind, i))
    return found


CONTEXTS = _test_contexts()


@pytest.fixture(params=CONTEXTS, ids=str)
def ctx(request):
    with request.param:
        yield request.param


@pytest.fixture(autouse=True)
def seed(request):
    """Seed numpy, random and clnet; print the seed when the test fails
    (CLNET_TEST_SEED replays it)."""
    value = int(os.environ.get("CLNET_TEST_SEED", random.randrange(2**31)))
    np.random.seed(value)
    random.seed(value)
    mx.random.seed(value)
    yield value
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"\nreplay with CLNET_TEST_SEED={value}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.rep_call = rep


def supported_dtypes(ctx, names=tuple(DTYPES)):
    dev = get_device(ctx)
    return [n for n in names if dev.supports(DTYPES[n])]
