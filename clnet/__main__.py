"""Command line: `python -m clnet devices` lists the OpenCL devices clnet can use.

Owns the command-line entry point and its output. Which context reaches which device is
`runtime.discovery`'s rule; this module only reports it.
"""
from __future__ import annotations

import argparse
import sys

from . import __version__
from .base import MXNetError, env_str

_COLUMNS = ("context", "device", "memory", "CUs", "fp64", "fp16", "max wg")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m clnet",
        description="clnet: MXNet 1.x-style deep learning on OpenCL devices.")
    parser.add_argument("--version", action="version", version=f"clnet {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "devices", help="list every OpenCL device and the context (cpu(i), gpu(i)) reaching it",
        description="List every OpenCL device on every platform with its global memory, "
                    "compute units, fp64/fp16 support, max work-group size and the clnet "
                    "context that reaches it ('-' when CLNET_DEVICES filters it out).")
    return parser


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _gib(nbytes: int) -> str:
    return f"{nbytes / 2**30:.1f} GiB"


def device_rows() -> list:
    """One row of strings per OpenCL device, in platform order, as `_COLUMNS` names them."""
    from .runtime import discovery
    contexts = {}
    for kind in ("cpu", "gpu"):
        for i, (_, dev) in enumerate(discovery.devices_of_kind(kind, missing_ok=True)):
            contexts[dev.int_ptr] = f"{kind}({i})"
    rows = []
    for platform, dev in discovery.all_devices():
        ext = dev.extensions.split()
        rows.append((contexts.get(dev.int_ptr, "-"), discovery.full_name(platform, dev),
                     _gib(dev.global_mem_size), str(dev.max_compute_units),
                     _yes_no("cl_khr_fp64" in ext or dev.double_fp_config != 0),
                     _yes_no("cl_khr_fp16" in ext), str(dev.max_work_group_size)))
    return rows


def format_table(rows: list) -> str:
    table = [_COLUMNS] + list(rows)
    widths = [max(len(row[c]) for row in table) for c in range(len(_COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in table)


def no_device_message() -> str:
    """What to print when no OpenCL device is visible at all."""
    from .runtime import discovery
    return f"clnet: no OpenCL device found; {discovery.INSTALL_HINT}"


def devices(out=None, err=None) -> int:
    """Print the device table (to `out`, default stdout); with no device at all, print the
    install hint (to `err`, default stderr) and return 1."""
    out, err = out or sys.stdout, err or sys.stderr
    rows = device_rows()
    if not rows:
        print(no_device_message(), file=err)
        return 1
    print(format_table(rows), file=out)
    pins = env_str("CLNET_DEVICES")
    if pins:
        print(f"\nCLNET_DEVICES={pins!r} selects the devices above that have a context.",
              file=out)
    return 0


def main(argv: list | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return devices()
    except MXNetError as err:
        print(f"clnet: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
