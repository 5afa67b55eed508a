"""``python -m airflow_provider_msgflash.sandbox``: the same as the ``msgflash-sandbox`` command."""

from __future__ import annotations

import sys

from airflow_provider_msgflash.sandbox.cli import main

if __name__ == "__main__":
    sys.exit(main())
