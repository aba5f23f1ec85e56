"""rnnkit vs torch on this CPU: ``python benchmarks/bench.py [--quick] [--json PATH]``.

A thin entry point; the benchmark itself is :mod:`rnnkit.bench` (also ``rnnkit bench``).
The latest table, the machine and the command are in ``benchmarks/README.md``.
"""

import os
import sys

try:
    from rnnkit.bench import main
except ImportError:  # run from a checkout without installing: use its src/
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
    from rnnkit.bench import main

if __name__ == "__main__":
    sys.exit(main())
