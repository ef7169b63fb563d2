"""Where hwcov writes: generated tests and result artifacts (journals, reference outputs)."""
from pathlib import Path

from dagster import ConfigurableResource

from hwcov.core import paths


class HwcovSettings(ConfigurableResource):
    db_path: str = ""
    generated_dir: str = ""
    artifacts_dir: str = ""

    def database(self) -> Path:
        return Path(self.db_path).resolve() if self.db_path else paths.db_path()

    def generated_path(self) -> Path:
        return Path(self.generated_dir).resolve() if self.generated_dir else paths.generated_dir()

    def artifacts_path(self) -> Path:
        return Path(self.artifacts_dir).resolve() if self.artifacts_dir else paths.artifacts_dir()
