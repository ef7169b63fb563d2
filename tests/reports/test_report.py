"""The report's figure of what the passes prove: the kill rate counts only cpu fp32 passes every block of which moved
the reference, and degenerate references and partly judged passes are counted apart."""
import pandas as pd

from hwcov.core.schema import conform
from hwcov.reports import report


def test_kill_rate_and_degenerate_counts():
    rows = conform([
        {"model_type": "bert", "hardware": "cpu", "precision": "fp32", "status": "pass", "mutation_sensitivity": 700.0,
         "unused_blocks": "vqmodel.encoder.down.0"},
        {"model_type": "convnext", "hardware": "cpu", "precision": "fp32", "status": "pass",
         "mutation_sensitivity": 0.002, "inert_blocks": "encoder.stages.0.layers.0"},
        {"model_type": "mobilevit", "hardware": "cpu", "precision": "fp32", "status": "fail_accuracy",
         "error_pattern": "degenerate_reference"},
        {"model_type": "gemma3", "hardware": "onnxruntime", "precision": "fp32", "status": "pass",
         "uninformative_outputs": "image_outputs.pooler_output: all zero"},
    ])
    figures = report.discrimination(rows)
    assert figures["cpu_passes"] == 2 and figures["every_block_sensitive"] == 1 and figures["kill_rate"] == 0.5
    assert figures["with_inert_blocks"] == ["convnext"] and figures["degenerate_reference"] == 1
    assert figures["passes_judged_on_part_of_their_outputs"] == 1 and figures["with_unused_blocks"] == 1
    inventory = pd.DataFrame({"model_type": ["bert", "convnext", "mobilevit", "gemma3"], "category": ["text"] * 4,
                              "family": ["f"] * 4, "priority": [1] * 4})
    text = report.markdown(inventory, rows)
    assert "## What a pass proves" in text and "| 0.5 |" in text


def test_stages_and_mode_cells_count_each_runtime_from_the_cpu_passes():
    """Where a runtime loses architectures: the stages table counts, of the CPU fp32 passes, what it reached, ran,
    matched at the export shape and at other shapes; mode cells give the heat-map a column per measured mode."""
    def row(model_type, hardware, status, dynamic="", generate="", shapes=""):
        return {"model_type": model_type, "hardware": hardware, "precision": "fp32", "batch_size": 1,
                "status": status, "dynamic_status": dynamic, "generate_status": generate, "dynamic_shapes": shapes,
                "test_timestamp": "2026-12-04 10:00:00"}

    # gpt2's graph is fixed in its batch (static_only) but the probe at the export's batch, longer, passed
    probed = "input_ids 2x8 (export) pass; input_ids 1x8 static_only; input_ids 2x20 (length only, not counted) pass"
    rows = conform([row("bert", "cpu", "pass"), row("gpt2", "cpu", "pass"), row("vit", "cpu", "pass"),
                    row("bad", "cpu", "fail_to_run"),
                    row("bert", "onnxruntime", "pass", "pass", shapes="input_ids 2x8 (export) pass"),
                    row("gpt2", "onnxruntime", "pass", "static_only", "pass", shapes=probed),
                    row("vit", "onnxruntime", "fail_accuracy"), row("bad", "onnxruntime", "pass", "pass")])
    stages = report.stages(rows).set_index("hardware").loc["onnxruntime"].to_dict()
    assert stages == {"cpu_fp32_passes": 3, "reached": 3, "ran": 3, "match_export_shape": 2, "other_shapes_checked": 2,
                      "match_other_shapes": 1, "static_only": 1, "free_in_length_only": 1}  # 'bad' is no CPU pass
    inventory = pd.DataFrame({"model_type": ["bert", "gpt2", "vit", "bad"], "category": ["text"] * 4,
                              "family": ["f"] * 4, "priority": [1] * 4})
    cells = report.mode_cells(inventory, rows)
    assert sorted(zip(cells["model_type"], cells["hardware"], cells["status"])) == [
        ("bad", "onnxruntime · dynamic", "pass"), ("bert", "onnxruntime · dynamic", "pass"),
        ("gpt2", "onnxruntime · dynamic", "static_only"), ("gpt2", "onnxruntime · generate", "pass")]
    assert "| onnxruntime | 3 | 3 | 3 | 2 | 2 | 1 | 1 | 1 |" in report.markdown(inventory, rows)
