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
