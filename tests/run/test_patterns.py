from hwcov.run import patterns


def test_the_seed_patterns_are_in_the_catalog():
    names = {p["name"] for p in patterns.catalog()}
    assert {"missing_decoder_inputs", "padding_token_missing", "image_input_required", "audio_input_required",
            "vision_token_length", "memory_constraints"} <= names
    for p in patterns.catalog():
        assert p["explanation"] and p["fix"] and p["category"], p["name"]


def test_classify_real_messages():
    assert patterns.classify("fail_to_run", "ValueError: You have to specify either decoder_input_ids") \
        == "missing_decoder_inputs"
    assert patterns.classify("oom", "RuntimeError: DefaultCPUAllocator: can't allocate memory") == "memory_constraints"
    assert patterns.classify("fail_to_run", "ValueError: Whisper expects the mel input features to be of length") \
        == "audio_input_required"
    assert patterns.classify("fail_to_run", "ZeroDivisionError: something new") == patterns.UNCLASSIFIED
    assert patterns.classify("pass", "") == "" and patterns.classify("unavailable", "no driver") == ""


def test_summarize_counts_per_hardware_and_pattern():
    rows = [{"model_type": m, "hardware": "cpu", "status": "fail_to_run", "error_message": "index out of range"}
            for m in ("a", "b")] + [{"model_type": "c", "hardware": "cpu", "status": "pass", "error_message": ""}]
    (only,) = patterns.summarize(rows)
    assert only["pattern"] == "index_out_of_range" and only["count"] == 2 and only["model_types"] == "a,b"
    assert only["suggested_fix"]


def test_a_hardware_without_failures_says_why_not_none():
    """Absent hardware is named with its probe's error; a clean one says how many ran (issue #29: no `none` rows)."""
    from hwcov.backends.registry import get_backend

    probe = get_backend("cuda").probe()  # this machine's own answer (no GPU here; the real text if lent one)
    rows = [{"hardware": "cpu", "model_type": m, "status": "pass"} for m in ("bert", "gpt2")]
    rows += [{"hardware": "cuda", "model_type": m, "status": "unavailable" if not probe.available else "pass",
              "error_message": probe.error} for m in ("bert", "gpt2")]
    rows += [{"hardware": "mps", "model_type": "bert", "status": "fail_to_run", "error_message": "boom"}]
    failing = {r["hardware"] for r in patterns.summarize(rows)}
    assert failing == {"mps"}
    out = {r["hardware"]: r for r in patterns.without_failures(rows, failing)}
    assert set(out) == {"cpu", "cuda"} and out["cpu"]["pattern"] == "no_failures"
    assert "2 results" in out["cpu"]["explanation"]
    if not probe.available:
        assert out["cuda"]["pattern"] == "hardware_unavailable" and out["cuda"]["count"] == 2
        assert out["cuda"]["example"] == probe.error[:300] and probe.error


def test_a_modes_failures_are_classified_apart_from_the_forward():
    """A passing forward whose dynamic or generate check failed is counted as '<mode>: <pattern>' with the catalog's
    explanation and fix; a mode skipped for time or not applicable is no failure."""
    rows = [{"model_type": "encodec", "hardware": "onnxruntime", "status": "pass", "dynamic_status": "static_only",
             "dynamic_message": "dynamic export failed (GuardOnDataDependentSymNode: Could not guard on data-dependent "
                                "expression Eq(u0, 1)); checked the static hf-onnx graph instead; at input_values "
                                "2x16000: input_values axis 0 is fixed at 1, fed 2"},
            {"model_type": "llava", "hardware": "onnxruntime", "status": "pass", "dynamic_status": "static_only",
             "dynamic_message": "at input_ids 1x8: attention_mask axis 0 is fixed at 2, fed 1"},
            {"model_type": "gpt2", "hardware": "onnxruntime", "status": "pass", "dynamic_status": "pass",
             "generate_status": "fail_accuracy", "generate_message": "diverges at step 2: logits 0.3 off"},
            {"model_type": "opt", "hardware": "onnxruntime", "status": "pass", "dynamic_status": "skipped",
             "generate_status": "not_applicable", "generate_message": "no KV cache"}]
    found = {r["pattern"]: r for r in patterns.summarize(rows)}
    assert set(found) == {"dynamic: data_dependent_export", "dynamic: static_graph_only",
                          "generate: generation_divergence"}
    assert found["dynamic: static_graph_only"]["model_types"] == "llava"
    assert found["generate: generation_divergence"]["suggested_fix"].startswith("Compare the decode graph's cache")
