"""python -m services.demo: both stories against `make run` (see services/demo/cli.py)."""

from services.demo.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
