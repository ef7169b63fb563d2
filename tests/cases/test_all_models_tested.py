"""Every inventory architecture passes on CPU or has a written skip (the analogue of optimum's
test_all_models_tested). CI runs a stable sample: two architectures per category, drawn by a hash of
the name so the draw follows the installed transformers; the full inventory runs under `-m slow`."""
import hashlib
from collections import defaultdict

import pytest

from hwcov.cases import generate
from hwcov.models import inventory, tiny
from hwcov.run import sweep

PER_CATEGORY = 2


def _draw() -> list[str]:
    by_category = defaultdict(list)
    for arch in inventory.discover():
        by_category[arch.category].append(arch.model_type)
    rank = lambda m: hashlib.sha256(m.encode()).hexdigest()  # noqa: E731
    return sorted(m for types in by_category.values() for m in sorted(types, key=rank)[:PER_CATEGORY])


def _passes_or_is_skipped(model_type: str, tmp_path) -> None:
    arch = inventory.by_type()[model_type]
    path = tmp_path / generate.filename(model_type)
    path.write_text(generate.render(arch)[0], encoding="utf-8")
    row = sweep.test_class(sweep.load_module(str(path))).evaluate("cpu", reference_dir=tmp_path)
    if row["status"] == "skipped_known":
        assert tiny.skip_reason(model_type, "cpu"), model_type
        return
    assert row["status"] == "pass", (f"{model_type} neither passes on cpu nor has a skip-table entry: "
                                     f"{row['status']}: {row['error_message'][:300]}")


@pytest.mark.parametrize("model_type", _draw())
def test_sampled_architecture_is_tested(model_type, tmp_path):
    _passes_or_is_skipped(model_type, tmp_path)


def test_the_draw_covers_every_category():
    categories = {a.category for a in inventory.discover()}
    drawn = {inventory.by_type()[m].category for m in _draw()}
    assert drawn == categories
