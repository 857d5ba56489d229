"""`python -m clnet`: usage, the device table, CLNET_DEVICES filtering and the no-device hint."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from clnet import __main__ as cli
from clnet.runtime import discovery

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CPUS = [d for d in discovery.all_devices() if discovery.kind_of(d[1]) == "cpu"]


def run_cli(*args, **env):
    """Run `python -m clnet *args` with the test's environment plus `env` (CLNET_DEVICES only
    when given, so the table shows every context)."""
    full_env = {k: v for k, v in os.environ.items() if k != "CLNET_DEVICES"}
    full_env.update(env)
    return subprocess.run([sys.executable, "-m", "clnet", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=120)


def row_of(stdout: str, context: str) -> list:
    rows = [line for line in stdout.splitlines() if line.startswith(context + " ")]
    assert len(rows) == 1, stdout
    return rows[0].split()


def test_no_arguments_prints_usage():
    res = run_cli()
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("usage: python -m clnet")
    assert "devices" in res.stdout


def test_unknown_command_fails():
    res = run_cli("nonsense")
    assert res.returncode == 2
    assert "invalid choice" in res.stderr


@pytest.mark.skipif(not CPUS, reason="no CPU OpenCL device")
def test_devices_lists_cpu0_with_real_values(monkeypatch):
    monkeypatch.delenv("CLNET_DEVICES", raising=False)
    res = run_cli("devices")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0].split()[:3] == ["context", "device", "memory"]
    assert len(res.stdout.strip().splitlines()) == 1 + len(discovery.all_devices())
    # the values, from the table printed in this process: pocl's figure for a CPU device's
    # memory differs between processes (3.8 to 4.5 GiB seen with 8 test workers running)
    out = io.StringIO()
    assert cli.devices(out=out) == 0
    platform, dev = discovery.devices_of_kind("cpu")[0]
    cells = row_of(out.getvalue(), "cpu(0)")
    line = " ".join(cells)
    assert discovery.full_name(platform, dev) in line
    # the last six cells: memory value, "GiB", CUs, fp64, fp16, max work-group size
    mem, unit, cus, fp64, fp16, wg = cells[-6:]
    assert unit == "GiB" and abs(float(mem) - dev.global_mem_size / 2**30) <= 0.05
    assert int(cus) == dev.max_compute_units
    assert int(wg) == dev.max_work_group_size
    ext = dev.extensions.split()
    assert fp64 == ("yes" if "cl_khr_fp64" in ext or dev.double_fp_config else "no")
    assert fp16 == ("yes" if "cl_khr_fp16" in ext else "no")


@pytest.mark.skipif(not CPUS, reason="no CPU OpenCL device")
def test_devices_filtered_out_show_a_dash():
    res = run_cli("devices", CLNET_DEVICES="cpu=no-such-device-name")
    assert res.returncode == 0, res.stderr
    assert not any(line.startswith("cpu(") for line in res.stdout.splitlines())
    assert any(line.startswith("- ") for line in res.stdout.splitlines())
    assert "CLNET_DEVICES='cpu=no-such-device-name'" in res.stdout


def test_bad_clnet_devices_is_explained():
    res = run_cli("devices", CLNET_DEVICES="nonsense")
    assert res.returncode == 1
    assert "CLNET_DEVICES item 'nonsense' must look like cpu=<substring>" in res.stderr


def _only_pocl() -> bool:
    return bool(discovery.all_devices()) and all(
        "portable computing language" in p.name.lower() for p, _ in discovery.all_devices())


@pytest.mark.skipif(not _only_pocl(), reason="needs pocl as the only OpenCL platform")
def test_no_device_prints_install_hint():
    # NOTE: pyopencl's bundled ICD loader always reads pocl.icd from the wheel (PYOPENCL_HOME),
    # so OCL_ICD_VENDORS cannot hide pocl; an unknown POCL_DEVICES leaves it with no device.
    res = run_cli("devices", POCL_DEVICES="no-such-driver")
    assert res.returncode == 1
    assert res.stdout == ""
    assert discovery.INSTALL_HINT in res.stderr


def test_no_platform_message(monkeypatch):
    monkeypatch.setattr(discovery, "all_devices", lambda: ())
    out, err = io.StringIO(), io.StringIO()
    assert cli.devices(out, err) == 1
    assert out.getvalue() == ""
    assert err.getvalue().strip() == f"clnet: no OpenCL device found; {discovery.INSTALL_HINT}"
