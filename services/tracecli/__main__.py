"""python -m services.tracecli [--jaeger URL] [--wait SECONDS] [--width COLUMNS] [--json] [--ascii] <trace_id>"""

import sys

from services.tracecli.cli import main

if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. piped into `head`
        sys.exit(0)
