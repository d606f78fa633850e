"""memio-server under tracemalloc, for `python -m bench soak --tracemalloc`.

Same arguments as `python -m memio.server`. Each SIGUSR1 writes a snapshot of the Python heap to
`$BENCH_TRACEMALLOC_DIR/<n>.snapshot` (n = 1, 2, ...; written under another name, then renamed, so
a file that exists is complete).
"""

from __future__ import annotations

import os
import signal
import sys
import tracemalloc
from pathlib import Path
from typing import Any

FRAMES = 12  # traceback depth kept per allocation: enough to reach memio's frames


def main() -> int:
    target = Path(os.environ["BENCH_TRACEMALLOC_DIR"])
    tracemalloc.start(FRAMES)
    taken = 0

    def dump(signum: int, frame: Any) -> None:
        nonlocal taken
        taken += 1
        partial = target / f"{taken}.partial"
        tracemalloc.take_snapshot().dump(str(partial))
        partial.rename(target / f"{taken}.snapshot")

    signal.signal(signal.SIGUSR1, dump)
    from memio.server.__main__ import main as serve

    return serve(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
