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
