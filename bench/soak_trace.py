"""``bench/soak.py --trace``: where Home Assistant's memory goes during a soak.

A small probe integration is written into the soak's configuration folder. It starts
``tracemalloc`` when Home Assistant sets it up and offers one action, ``soak_probe.snapshot``,
which (in the executor, so the event loop keeps running) writes a ``tracemalloc`` snapshot,
glibc's allocator figures (``mallinfo2``: bytes in use, free bytes kept in the arenas, mmapped
bytes) and the counts of Python objects by type. The bench takes one at the memory mark
(minute 2) and one at the end of the soak and prints what grew between them, so that a growth
of the resident memory can be told apart into Python objects that stay (a leak), native
allocations (numpy, OpenCV, ssl) and memory freed but kept by the allocator (fragmentation).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import json
from pathlib import Path
import tracemalloc
from typing import Any
from xml.etree import ElementTree

DOMAIN = "soak_probe"

_MANIFEST = {
    "domain": DOMAIN,
    "name": "Soak probe",
    "version": "1.0",
    "codeowners": [],
    "documentation": "https://example.invalid",
    "requirements": [],
    "iot_class": "local_push",
}

_COMPONENT = '''\
"""Soak probe: tracemalloc snapshots and allocator figures on request (bench only)."""

from collections import Counter
import ctypes
import gc
import json
import tracemalloc

DOMAIN = "soak_probe"


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _mallinfo():
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return {name: getattr(info, name) for name, _ in _MallInfo2._fields_}


def _rss():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS", "VmHWM", "Threads")):
                name, value = line.split(":", 1)
                yield name, int(value.split()[0])


def _take(path, collect, full):
    collected = gc.collect() if collect else 0
    figures = {
        "collected": collected,
        "traced": tracemalloc.get_traced_memory()[0],
        "mallinfo": _mallinfo(),
        "status": dict(_rss()),
    }
    if full:
        libc = ctypes.CDLL("libc.so.6")
        libc.fopen.restype = ctypes.c_void_p
        libc.malloc_info.argtypes = libc.fclose.argtypes = None
        stream = libc.fopen((path + ".xml").encode(), b"w")
        libc.malloc_info(0, ctypes.c_void_p(stream))
        libc.fclose(ctypes.c_void_p(stream))
        if tracemalloc.is_tracing():
            tracemalloc.take_snapshot().dump(path)
        types = Counter(type(obj).__qualname__ for obj in gc.get_objects())
        figures["types"] = dict(types.most_common(400))
    with open(path + ".json", "w") as file:
        json.dump(figures, file)


async def async_setup(hass, config):
    frames = config.get(DOMAIN, {}).get("frames", 0)
    if frames and not tracemalloc.is_tracing():
        tracemalloc.start(frames)

    async def snapshot(call):
        await hass.async_add_executor_job(
            _take, call.data["path"], bool(call.data.get("collect")), bool(call.data.get("full")))

    hass.services.async_register(DOMAIN, "snapshot", snapshot)
    return True
'''


def configuration(frames: int) -> str:
    """The probe's lines in configuration.yaml: ``frames`` > 0 starts tracemalloc."""
    return f"{DOMAIN}:\n  frames: {frames}\n"


def install(folder: Path) -> Path:
    """Write the probe into ``folder``/custom_components and return ``folder``, to be put on
    PYTHONPATH beside the integration's code: ``custom_components`` is a namespace package
    over both (the configuration folder's own is not seen once the integration comes from
    PYTHONPATH)."""
    component = folder / "custom_components" / DOMAIN
    component.mkdir(parents=True)
    (component / "manifest.json").write_text(json.dumps(_MANIFEST))
    (component / "__init__.py").write_text(_COMPONENT)
    return folder


async def take(
    call: Callable[..., Awaitable[Any]], folder: Path, label: str, *, full: bool = True
) -> Path:
    """Figures named ``label``; ``full``: also the object counts and, with tracemalloc on, a
    snapshot, after a full garbage collection, so that they show what is held, not garbage
    waiting for the collector."""
    path = folder / f"trace-{label}"
    await call(
        f"/api/services/{DOMAIN}/snapshot", {"path": str(path), "collect": full, "full": full}
    )
    return path


def figures(path: Path) -> dict[str, Any]:
    return json.loads(Path(f"{path}.json").read_text())  # type: ignore[no-any-return]


def allocator_line(path: Path) -> str:
    """VmRSS and glibc's in-use and free bytes, in MiB, of one sample."""
    sample = figures(path)
    info = sample["mallinfo"]
    return (
        f"VmRSS {sample['status']['VmRSS'] / 1024:.0f}, in use {info['uordblks'] / 2**20:.0f} "
        f"(traced {sample['traced'] / 2**20:.0f}), free in arenas {info['fordblks'] / 2**20:.0f},"
        f" mmapped {info['hblkhd'] / 2**20:.0f}"
    )


def _arenas(path: Path) -> list[str]:
    """glibc's arenas at the end (malloc_info): size and free bytes of each, in MiB."""
    if not path.is_file():
        return []
    heaps = ElementTree.parse(path).getroot().findall("heap")
    lines = [f"glibc arenas at the end ({len(heaps)}; MiB in use by the arena / free in it):"]
    cells = []
    for heap in heaps:
        current = sum(
            int(node.get("size", 0))
            for node in heap.findall("system")
            if node.get("type") == "current"
        )
        free = sum(int(node.get("size", 0)) for node in heap.findall("total"))
        cells.append(f"#{heap.get('nr')} {current / 2**20:.0f}/{free / 2**20:.0f}")
    lines.append("  " + ", ".join(cells))
    return lines


def _short(path: str) -> str:
    for marker in ("site-packages/", "lib/python3.13/", "custom_components/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _kib(value: float) -> str:
    return f"{value / 1024:+,.0f} KiB"


def report(first: Path, last: Path, top: int = 25) -> str:
    """What grew from ``first`` to ``last``: totals, allocator, object types, and tracebacks."""
    before, after = figures(first), figures(last)
    lines = ["Memory between the two snapshots (both after a full garbage collection):"]
    lines.extend(
        f"- {name}: {_kib((after['status'][name] - before['status'][name]) * 1024)}"
        for name in ("VmRSS", "VmHWM")
    )
    traced = after["traced"] - before["traced"]
    lines.append(f"- traced by tracemalloc (Python and numpy): {_kib(traced)}")
    info = {key: after["mallinfo"][key] - before["mallinfo"][key] for key in after["mallinfo"]}
    lines.append(
        f"- glibc: in use {_kib(info['uordblks'])}, free but kept in the arenas "
        f"{_kib(info['fordblks'])}, arena size {_kib(info['arena'])}, "
        f"mmapped {_kib(info['hblkhd'])}"
        f" (now: in use {after['mallinfo']['uordblks'] / 2**20:.1f} MiB, free in arenas "
        f"{after['mallinfo']['fordblks'] / 2**20:.1f} MiB)"
    )
    types = {
        name: after["types"].get(name, 0) - before["types"].get(name, 0)
        for name in set(after["types"]) | set(before["types"])
    }
    grown = sorted(((count, name) for name, count in types.items() if count), reverse=True)
    lines.append(
        "Object types that grew most: "
        + ", ".join(f"{name} {count:+d}" for count, name in grown[:20])
    )
    lines.extend(_arenas(Path(f"{last}.xml")))
    if not Path(first).is_file():
        return "\n".join(lines)
    old = tracemalloc.Snapshot.load(str(first))
    new = tracemalloc.Snapshot.load(str(last))
    lines.append(f"Files whose allocations grew most (top {top}):")
    for stat in new.compare_to(old, "filename")[:top]:
        frame = stat.traceback[0]
        lines.append(
            f"  {_kib(stat.size_diff):>14} {stat.count_diff:+8d} blocks  {_short(frame.filename)}"
        )
    lines.append("Tracebacks whose allocations grew most:")
    for stat in new.compare_to(old, "traceback")[:top]:
        lines.append(f"  {_kib(stat.size_diff)} in {stat.count_diff:+d} blocks:")
        lines.extend(
            f"      {_short(frame.filename)}:{frame.lineno}" for frame in reversed(stat.traceback)
        )
    return "\n".join(lines)
