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
import threading
import time
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


def _jemalloc():
    """jemalloc's own figures when it is preloaded (as in Home Assistant's container)."""
    try:
        mallctl = ctypes.CDLL(None).mallctl
    except AttributeError:
        return None
    mallctl.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t),
                        ctypes.c_void_p, ctypes.c_size_t]
    epoch = ctypes.c_uint64(1)  # refreshes the statistics
    mallctl(b"epoch", None, None, ctypes.byref(epoch), ctypes.sizeof(epoch))
    figures = {}
    for name in ("allocated", "active", "resident", "retained", "mapped"):
        value = ctypes.c_size_t()
        size = ctypes.c_size_t(ctypes.sizeof(value))
        if mallctl(f"stats.{name}".encode(), ctypes.byref(value), ctypes.byref(size), None, 0) == 0:
            figures[name] = value.value
    return figures


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
        "jemalloc": _jemalloc(),
        "status": dict(_rss()),
    }
    if full and figures["jemalloc"] is None:
        libc = ctypes.CDLL("libc.so.6")
        libc.fopen.restype = ctypes.c_void_p
        libc.malloc_info.argtypes = libc.fclose.argtypes = None
        stream = libc.fopen((path + ".xml").encode(), b"w")
        libc.malloc_info(0, ctypes.c_void_p(stream))
        libc.fclose(ctypes.c_void_p(stream))
    if full:
        if tracemalloc.is_tracing():
            tracemalloc.take_snapshot().dump(path)
        types = Counter(type(obj).__qualname__ for obj in gc.get_objects())
        figures["types"] = dict(types.most_common(400))
    with open(path + ".json", "w") as file:
        json.dump(figures, file)


def _catch_peaks(path, warm_up, step):
    """Keep a snapshot of the moment the traced memory was highest (after ``warm_up`` s)."""
    time.sleep(warm_up)
    best = tracemalloc.get_traced_memory()[0] + step
    while True:
        time.sleep(0.2)
        if (now := tracemalloc.get_traced_memory()[0]) > best:
            best = now + step
            tracemalloc.take_snapshot().dump(path)


async def async_setup(hass, config):
    settings = config.get(DOMAIN, {})
    frames = settings.get("frames", 0)
    if frames and not tracemalloc.is_tracing():
        tracemalloc.start(frames)
        threading.Thread(
            target=_catch_peaks, args=(settings["peak"], settings["warm_up"], 2**20),
            daemon=True, name="soak_probe_peaks").start()

    async def snapshot(call):
        await hass.async_add_executor_job(
            _take, call.data["path"], bool(call.data.get("collect")), bool(call.data.get("full")))

    hass.services.async_register(DOMAIN, "snapshot", snapshot)
    return True
'''


# How Home Assistant's container starts it (the run script of its image): jemalloc, with these.
JEMALLOC_CONF = "background_thread:true,metadata_thp:auto,dirty_decay_ms:20000,muzzy_decay_ms:20000"
_JEMALLOC_PLACES = ("/usr/local/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                    "/usr/lib")  # fmt: skip


def allocator_environment(allocator: str) -> dict[str, str]:
    """Home Assistant's environment for ``allocator``: glibc's malloc (nothing to set; a Python
    venv runs it so) or jemalloc as Home Assistant OS and Container run it."""
    if allocator == "glibc":
        return {}
    for place in _JEMALLOC_PLACES:
        if (library := Path(place) / "libjemalloc.so.2").is_file():
            return {"LD_PRELOAD": str(library), "MALLOC_CONF": JEMALLOC_CONF}
    raise SystemExit("jemalloc not found: install it (Debian: apt-get install libjemalloc2)")


def configuration(frames: int, folder: Path, warm_up: float) -> str:
    """The probe's lines in configuration.yaml: ``frames`` > 0 starts tracemalloc and keeps a
    snapshot of the highest traced memory after ``warm_up`` s in ``folder``/trace-peak."""
    return f"{DOMAIN}:\n  frames: {frames}\n  peak: {folder / 'trace-peak'}\n  warm_up: {warm_up}\n"


def peak_report(mark: Path, peak: Path, top: int = 15) -> str:
    """What was held at the highest traced memory beyond what was held at the mark."""
    if not (mark.is_file() and peak.is_file()):
        return "No tracemalloc peak (needs --trace-frames)"
    old = tracemalloc.Snapshot.load(str(mark))
    new = tracemalloc.Snapshot.load(str(peak))
    total = sum(stat.size for stat in new.statistics("filename"))
    lines = [f"At the highest traced memory ({total / 2**20:.1f} MiB), beyond the mark:"]
    for stat in new.compare_to(old, "traceback")[:top]:
        lines.append(f"  {_kib(stat.size_diff)} in {stat.count_diff:+d} blocks:")
        lines.extend(
            f"      {_short(frame.filename)}:{frame.lineno}" for frame in reversed(stat.traceback)
        )
    return "\n".join(lines)


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
    """VmRSS and the allocator's figures, in MiB, of one sample."""
    sample = figures(path)
    rss = f"VmRSS {sample['status']['VmRSS'] / 1024:.0f}"
    if jemalloc := sample.get("jemalloc"):
        return (
            rss
            + ", jemalloc: "
            + ", ".join(f"{name} {value / 2**20:.0f}" for name, value in jemalloc.items())
        )
    info = sample["mallinfo"]
    return (
        f"{rss}, glibc: in use {info['uordblks'] / 2**20:.0f} (traced "
        f"{sample['traced'] / 2**20:.0f}), free in arenas {info['fordblks'] / 2**20:.0f}, "
        f"mmapped {info['hblkhd'] / 2**20:.0f}"
    )


def allocator_summary(first: Path, last: Path) -> str:
    """For the docs: what the allocator holds for the program at ``first`` and ``last``, and
    what it keeps beside that; a leak shows in the first, fragmentation in the second."""
    before, after = figures(first), figures(last)

    def mib(sample: dict[str, Any], *keys: str) -> float:
        return float(sum(sample[key] for key in keys)) / 2**20

    if (old := before.get("jemalloc")) and (new := after.get("jemalloc")):
        held = (mib(old, "allocated"), mib(new, "allocated"))
        return (
            f"allocated (held by the program) {held[0]:.1f} → {held[1]:.1f} MiB "
            f"({held[1] - held[0]:+.1f}), resident {mib(old, 'resident'):.1f} → "
            f"{mib(new, 'resident'):.1f} MiB"
        )
    old, new = before["mallinfo"], after["mallinfo"]
    used = (mib(old, "uordblks", "hblkhd"), mib(new, "uordblks", "hblkhd"))
    free = (mib(old, "fordblks"), mib(new, "fordblks"))
    return (
        f"in use (held by the program) {used[0]:.1f} → {used[1]:.1f} MiB "
        f"({used[1] - used[0]:+.1f}); freed but kept in its arenas {free[0]:.1f} → "
        f"{free[1]:.1f} MiB ({free[1] - free[0]:+.1f})"
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
