"""Where a dropscore home keeps its files, and how DuckDB is tuned on this machine."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
"""The repository root: it holds dbt_project.yml and profiles.yml."""

# DuckDB 2.x writes a storage format that the DuckDB 1.5 CLI cannot open; users read the
# published warehouse with whatever DuckDB client they have.
STORAGE_COMPATIBILITY_VERSION = "v1.5.0"


@dataclass(frozen=True)
class Settings:
    home: Path
    memory_limit: str = "3GB"
    threads: int = os.cpu_count() or 2

    @classmethod
    def from_env(cls, home: str | Path | None = None) -> Settings:
        home = home or os.environ.get("DROPSCORE_HOME") or "data"
        return cls(
            home=Path(home).expanduser().resolve(),
            memory_limit=os.environ.get("DROPSCORE_MEMORY_LIMIT", cls.memory_limit),
            threads=int(os.environ.get("DROPSCORE_THREADS", cls.threads)),
        )

    @property
    def build_path(self) -> Path:
        """The working warehouse: ingest writes here and dbt builds here."""
        return self.home / "build.duckdb"

    @property
    def warehouse_path(self) -> Path:
        """The published warehouse: a finished build, replaced atomically; readers open this."""
        return self.home / "warehouse.duckdb"

    @property
    def digests_path(self) -> Path:
        """The published warehouse's chunk digests, noted for the next publish."""
        return self.home / ".warehouse.digests"

    @property
    def dbt_target_path(self) -> Path:
        return self.home / "dbt-target"

    @property
    def reports_path(self) -> Path:
        return self.home / "reports"

    @property
    def lock_path(self) -> Path:
        return self.home / ".run.lock"

    def duckdb_config(self) -> dict[str, str]:
        return {"memory_limit": self.memory_limit, "threads": str(self.threads)}
