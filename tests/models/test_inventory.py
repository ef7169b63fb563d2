from transformers.models.auto import configuration_auto, modeling_auto

from hwcov.models import inventory


def _types_with_a_model_class() -> set[str]:
    """Computed independently of hwcov: union of transformers' modeling auto mappings."""
    out = set()
    for name in dir(modeling_auto):
        mapping = getattr(modeling_auto, name)
        if name.startswith("MODEL") and name.endswith("_MAPPING_NAMES") and isinstance(mapping, dict):
            out |= set(mapping)
    return out & set(configuration_auto.CONFIG_MAPPING_NAMES)


def test_every_model_type_with_a_class_is_inventoried_once(archs):
    assert set(archs) == _types_with_a_model_class()
    assert len(archs) > 400


def test_every_architecture_has_a_category_modality_family_and_priority(archs):
    for a in archs.values():
        assert a.category in inventory.CATEGORIES, a
        assert a.modality and a.family and a.priority in (1, 2, 3, 4), a
        assert a.base_class or a.head_classes, a


def test_categories_follow_the_auto_mappings(archs):
    expected = {"bert": "text-encoder", "gpt2": "text-decoder", "t5": "encoder-decoder", "vit": "vision",
                "wav2vec2": "audio", "whisper": "speech-text", "llava": "vision-language", "clip": "multimodal"}
    assert {k: archs[k].category for k in expected} == expected
    assert archs["bert"].priority == 1 and archs["llava"].priority == 2
    assert "BertForMaskedLM" in archs["bert"].head_classes and archs["bert"].base_class == "BertModel"


def test_model_types_matches_discover(archs):
    assert inventory.model_types() >= set(archs)


def test_model_types_are_kept_per_transformers_version(monkeypatch, tmp_path):
    """The second command reads the kept list instead of importing the auto mappings; a torn file is made again."""
    monkeypatch.setenv("HWCOV_ARTIFACTS_DIR", str(tmp_path / "not made"))
    first = inventory.model_types()
    assert not (tmp_path / "not made").exists()  # no artifacts folder is made to keep it in
    monkeypatch.setenv("HWCOV_ARTIFACTS_DIR", str(tmp_path))
    assert inventory.model_types() == first
    assert first >= _types_with_a_model_class()
    kept = list((tmp_path / "inventory").glob("model-types-*.json"))
    assert len(kept) == 1 and transformers_version() in kept[0].name

    def no_mappings():
        raise AssertionError("the auto mappings were imported again")

    monkeypatch.setattr(inventory, "_mappings", no_mappings)
    assert inventory.model_types() == first
    kept[0].write_text('["bert", ')  # cut short
    monkeypatch.undo()
    monkeypatch.setenv("HWCOV_ARTIFACTS_DIR", str(tmp_path))
    assert inventory.model_types() == first


def transformers_version() -> str:
    import transformers

    return transformers.__version__


def test_tasks_come_from_optimums_task_table(archs):
    assert "fill-mask" in archs["bert"].tasks and "text-generation" in archs["gpt2"].tasks
    assert "automatic-speech-recognition" in archs["whisper"].tasks
    assert "image-classification" in archs["vit"].tasks and "feature-extraction" in archs["vit"].tasks
    assert archs["bert"].row()["tasks"].split(",") == list(archs["bert"].tasks)


def test_multimodal_means_the_forward_takes_a_non_text_input(archs):
    """A text backbone listed under a multimodal task (mistral4, layoutlm) is classified by its rule
    for text, so it is never reported as a text-only run of a multimodal model."""
    import re

    from hwcov.core import data
    from hwcov.models import inventory

    pattern = data.load("inventory.yaml")["non_text_inputs"]
    wrong = [a.model_type for a in archs.values() if a.modality == "multimodal" and not any(
        re.search(pattern, n) for n in inventory.forward_inputs(a.base_class or a.head_classes[0]))]
    assert not wrong
