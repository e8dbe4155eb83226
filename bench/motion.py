"""Motion: shake, light and small movers on real footage, and the cost of stabilisation.

Scenes are made from the development footage: its still background (the median frame) shaken
at random by 1 or 2 px, lit up by 25 % at once, darkened slowly (dusk); the footage itself
(people walking); and a person cut from it (background subtraction against the median) pasted
walking along the pavement at heights from 8 to 120 px. Each scene is a D1 (768 x 576) H.264
file made by ffmpeg and decoded by the integration's own FfmpegSource (320-px grey frames at
5 fps); MotionDetector runs on every frame at every sensitivity level, stabilised (as the
integration runs it) and with stabilisation off. Prints the section and rewrites the
"## Motion" section of docs/benchmarks.md.

    .venv/bin/python bench/motion.py [--quick]

The footage is ../shared/data/pedestrians-dev.mp4 (beside the checkout) unless PTZ_BENCH_FOOTAGE
names another file. --quick: fewer heights and shorter scenes, docs/benchmarks.md not written.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
import sys
import tempfile

from _motion_measures import baseline_detector
from _motion_report import section
from _motion_scenes import scenes
from _motion_settings import FOOTAGE, SECTION, progress
from outbox_flush import write_docs

from tests.camera_scenes import cut_person, read_grey, still_world


async def main() -> None:
    quick = "--quick" in sys.argv
    progress(f"reading {FOOTAGE}")
    footage = read_grey(FOOTAGE)
    world = still_world(footage[::3])
    sprite = cut_person(footage, world)
    with tempfile.TemporaryDirectory() as folder:
        progress("making scenes")
        made, pasted = await scenes(
            world, sprite, footage[: 80 if quick else None], Path(folder), quick
        )
        baseline = baseline_detector(Path(folder))
        text = section({scene.name: scene for scene in made}, pasted, quick, baseline)
    print(text)
    if not quick:
        write_docs(text, SECTION)


if __name__ == "__main__":
    asyncio.run(main())
