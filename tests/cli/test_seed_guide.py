"""Every distinct command line of the seed guide (HF_COMPREHENSIVE_TESTING_GUIDE.md) works as `hwcov <flags>`.

Each line, exactly as the guide writes it, parses with no usage error; then all of them run in the guide's order,
in one folder, each through the `hwcov` console script in a process of its own (as a user runs them; a worker
forked from this test process could inherit a lock its threads hold), on a database swept beforehand on cpu. Each must exit 0, or exit 2 with one line
naming a verb of its own guide section that appears earlier there (the prerequisite that section creates first).

Kept short by data, not by skipping: the inventory is narrowed to six architectures (templates/inventory.yaml
`only_model_types` in a copy of the templates), so the guide's full sweeps (`--expand-hf-models`, `--hardware
cuda`, `--bulk-generate-tests --all-models`, ...) cover those six. Lines that would still start long work run
with the narrowing CHEAPER names, each with its reason; the line as written was parsed and validated first.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hwcov.core import paths
from tests.cli.seed_guide import GUIDE, parse_guide, vendored

TINY = ["bert", "gpt2", "t5", "vit", "wav2vec2", "llama"]
ON_CPU = ("--hardware", "cpu")
SHORT_BENCH = ("--batch-sizes", "1", "--seq-lens", "8", "--min-duration", "0.05")

# flag in a line -> (how its execution is narrowed, why)
CHEAPER = {
    "--all": (ON_CPU, ("every hardware is 13 Dagster runs with two exporters and Chromium, ~50 s per architecture "
                       "here; `all` is checked by parsing and validation")),
    "--all-hardware": (ON_CPU, "the same as --all"),
    "--ci-mode": (ON_CPU, "--ci-mode runs the hardware present: openvino and onnxruntime export every architecture"),
    "--benchmark-all": (ON_CPU + SHORT_BENCH, "the seed matrix is 4 batches x 3 sequence lengths x 1 s per cell"),
    "--benchmark-category": (SHORT_BENCH, "the same matrix"),
    "--benchmark-baseline": (SHORT_BENCH, "the same matrix"),
    "--benchmark-optimized": (SHORT_BENCH, "the same matrix"),
    "--validate-optimizations": (SHORT_BENCH + ("--model", "bert"), ("the same matrix, for the applied variants; "
                                 "one architecture, since torch.compile takes ~50 s for each here")),
    "--run-scheduled-tests": (("--model", "bert", *ON_CPU), "each schedule sweeps everything on several hardware"),
}
# `--hardware all` with a verb that runs models (profiles, a sweep) runs on cpu here, for the reason of --all;
# a --model alone is the guide's "across all hardware platforms", the same.
RUNS_MODELS = ("--detailed-profiling", "--layer-profile", "--validate-against-reference", "--test-by-popularity")


def execution_argv(argv: list[str]) -> tuple[list[str], str]:
    """The line as it runs here, and why it differs (if it does)."""
    out, why = list(argv), []
    for flag, (extra, reason) in CHEAPER.items():
        if flag in out:
            if flag in ("--all", "--all-hardware"):
                out.remove(flag)
            if extra[:2] == ON_CPU and "--hardware" in out:
                extra = extra[2:]
            out += list(extra)
            why.append(reason)
    if "all" in out and any(v in out for v in RUNS_MODELS):
        out[out.index("all")] = "cpu"
        why.append("`--hardware all` runs models on every hardware")
    if out == ["--model", "bert"]:
        out += list(ON_CPU)
        why.append("a --model alone runs it on every hardware")
    if "--top" in out:
        out[out.index("--top") + 1] = "2"
        why.append("50 architectures; the inventory here has six")
    return out, "; ".join(why)


def lines():
    return parse_guide(GUIDE.read_text(encoding="utf-8")) if GUIDE.exists() else vendored()


def test_the_vendored_copy_matches_the_guide():
    if not GUIDE.exists():
        pytest.skip(f"{GUIDE} is not here (a clean clone): the vendored copy is what the tests below read")
    assert parse_guide(GUIDE.read_text(encoding="utf-8")) == vendored(), \
        "the guide changed: refresh the copy with `python tests/cli/seed_guide.py`"


def test_every_line_parses_with_no_usage_error():
    from hwcov.cli.main import parser

    p = parser()
    found = lines()
    assert len(found) == 81
    for line in found:
        p.parse_args(line.argv)  # a usage error raises UsageError here


def test_hardware_all_and_comma_lists_validate(tmp_path):
    from hwcov.backends.registry import RUNNABLE
    from hwcov.cli.main import parser
    from hwcov.cli.validate import validate

    for argv in (["--comparative-report", "--hardware", "all"], ["--comparative-report", "--hardware", "cpu,all"]):
        args = parser().parse_args([*argv, "--db-path", str(tmp_path / "db.duckdb")])
        with paths.configured(db_path=tmp_path / "db.duckdb"):
            chosen = validate(args, [])
        assert chosen.hardware == list(RUNNABLE)
    args = parser().parse_args(["--hardware", "cpu,onnxruntime", "--models", "bert,t5"])
    assert (args.hardware, args.model) == ("cpu,onnxruntime", "bert,t5")


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    """A folder holding what the guide's lines read: a database swept on cpu over a six-architecture inventory,
    and the platform files its custom-hardware sections tell the user to write."""
    root = tmp_path_factory.mktemp("seed")
    templates = root / "templates"
    shutil.copytree(paths.TEMPLATES_DIR, templates)
    spec = yaml.safe_load((templates / "inventory.yaml").read_text())
    spec["only_model_types"] = TINY
    (templates / "inventory.yaml").write_text(yaml.safe_dump(spec))
    # The guide's "Hardware Configuration Format" example, as the user writes it for --define-hardware qualcomm.
    qualcomm = {"platform_name": "Qualcomm", "platform_key": "qualcomm", "device_flag": "--device qualcomm",
                "backend_type": "onnxruntime", "memory_constraint_mb": 8192,
                "supported_precisions": ["fp32", "fp16", "int8"], "preferred_precision": "fp16",
                "default_batch_size": 1, "default_timeout_seconds": 60}
    (root / "hardware_config").mkdir()
    (root / "hardware_config" / "qualcomm.json").write_text(json.dumps(qualcomm))
    (root / "custom_hardware.json").write_text(json.dumps({**qualcomm, "platform_name": "Edge CPU",
                                                           "platform_key": "edge_cpu", "backend_type": "torch",
                                                           "supported_precisions": ["fp32"],
                                                           "preferred_precision": "fp32"}))
    with pytest.MonkeyPatch.context() as mp:
        for name in ("HWCOV_DB_PATH", "HWCOV_GENERATED_DIR", "HWCOV_ARTIFACTS_DIR", "HWCOV_PLATFORMS_DIR",
                     "HWCOV_SCHEDULE_CONFIG"):
            mp.delenv(name, raising=False)
        mp.setenv("HWCOV_TEMPLATES_DIR", str(templates))
        mp.setenv("DAGSTER_HOME", str(root / ".dagster"))
        mp.chdir(root)
        from hwcov.repair.loop import reset_process_caches

        reset_process_caches()  # template data read for another templates folder earlier in this process
        code, out, err = hwcov("--model", ",".join(TINY), "--hardware", "cpu")
        assert code == 0 and "cpu fp32: 6/6 pass" in out, err[-2000:]
        yield root
        reset_process_caches()


# Every line runs in a process of its own, as a user's does: the guide is checked as typed, exit codes and
# terminal included. The custom-platform lines also get a platforms folder of their own: a custom platform becomes a
# hardware partition when hwcov.definitions is imported, and the later `all`-hardware lines must not see one.
OWN_PLATFORMS = ("--define-custom-hardware", "--use-custom-hardware")
HWCOV = str(Path(sys.executable).with_name("hwcov"))


def hwcov(*argv: str) -> tuple[int, str, str]:
    env = dict(os.environ)
    if any(flag in argv for flag in OWN_PLATFORMS):
        env["HWCOV_PLATFORMS_DIR"] = str(Path("custom_platforms").resolve())
    done = subprocess.run([HWCOV, *argv], capture_output=True, text=True, timeout=900, env=env, check=False)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def guide_run(farm):
    """Every line, in the guide's order, in the farm folder: flags -> (line, argv as run, why, code, out, err)."""
    found, ran = lines(), {}
    for line in found:
        argv, why = execution_argv(line.argv)
        ran[line.flags] = (line, argv, why, *hwcov(*argv))
    return found, ran


def test_every_guide_line_exits_0_or_names_a_prerequisite_of_its_section(guide_run):
    found, ran = guide_run
    problems = []
    for i, line in enumerate(found):
        _, argv, why, code, _, err = ran[line.flags]
        if code == 0:
            continue
        errors = [e for e in err.splitlines() if e.startswith("hwcov: error:")]
        earlier = {a for g in found[:i] if g.section.split(" / ")[0] == line.section.split(" / ")[0]
                   for a in g.argv if a.startswith("--")}
        named = [flag for flag in earlier if f"hwcov {flag}" in (errors or [""])[0]]
        if not (code == 2 and len(errors) == 1 and named):
            problems.append(f"line {line.number} `{line.flags}` (ran as {' '.join(argv)}{'; ' + why if why else ''}):"
                            f" exit {code}: {(errors or err.strip().splitlines() or ['no output'])[-1][:300]}")
    assert not problems, "\n".join(problems)


def out_of(guide_run, flags: str) -> str:
    return guide_run[1][flags][4]


def test_the_optimization_workflow_measures_the_patched_variant(guide_run, farm):
    patch = yaml.safe_load((farm / "optimization_patches" / "cpu-torch_compile.yaml").read_text())
    assert patch["variant"] == "torch_compile" and patch["settings"] == {"compile": True}
    applied = yaml.safe_load((farm / "templates" / "optimization_patches.yaml").read_text())
    assert "torch_compile" in applied["hardware"]["cpu"]["variants"]
    import duckdb

    with duckdb.connect(str(farm / "benchmark_db.duckdb"), read_only=True) as con:
        cells = con.execute("SELECT variant, status FROM hwcov.benchmark_results WHERE model_type = 'bert' "
                            "AND hardware = 'cpu'").fetchall()
    assert ("torch_compile", "pass") in cells and ("eager", "pass") in cells
    assert "speedup" in out_of(guide_run, "--validate-optimizations --db-path ./benchmark_db.duckdb")
    cuda = out_of(guide_run, "--apply-optimizations --model bert --hardware cuda")
    assert "nothing to apply" in cuda and "unavailable" in cuda  # said plainly, not pretended


def test_generator_verbs_record_before_and_after(guide_run, farm):
    import duckdb

    with duckdb.connect(str(farm / "benchmark_db.duckdb"), read_only=True) as con:
        names = {r[0] for r in con.execute("SELECT generator_name FROM hwcov.generator_updates").fetchall()}
    assert {"all generators", "modality audio", "family transformer", "merged generator"} <= names
    assert "all generators" in out_of(guide_run, "--verify-improvements --db-path ./benchmark_db.duckdb")
    verified = out_of(guide_run, "--verify-generator-enhancements --model bert")
    assert "family transformer" in verified and "holds" in verified and "modality audio" not in verified
    dry = out_of(guide_run, "--test-generators --dry-run")
    assert f"{len(TINY)} of {len(TINY)} generated tests compile; rendered in memory" in dry
    assert (farm / "template_patches" / "manual.md").is_file()


def test_error_pattern_verbs_write_the_catalog_and_say_what_they_could_not(guide_run, farm):
    added = yaml.safe_load((farm / "templates" / "error_patterns_added.yaml").read_text())["patterns"]
    entry = next(p for p in added if p["name"] == "missing_decoder_inputs")
    assert entry["models"] == ["longt5", "mt5", "pegasus", "t5"] and entry["fix"].startswith("Add decoder_input_ids")
    fixed = out_of(guide_run, '--fix-error-pattern --pattern "padding_token_missing" --template-file '
                              '"templates/text_generation_template.py"')
    assert "is not a file under" in fixed


def test_docs_verbs_name_the_documentation_they_used(guide_run, farm):
    for flags in ("--extract-model-classes --docs-path transformers_docs_build/en/en --output model_classes.json",
                  "--validate-against-docs --docs-path transformers_docs_build/en/en --tests-path test/skills/"):
        assert "used the docstrings of the installed transformers" in out_of(guide_run, flags)
    classes = {r["model_type"]: r for r in json.loads((farm / "model_classes.json").read_text())}
    assert "BertModel" in classes["bert"]["documented_classes"]
    assert (farm / "test" / "skills" / "test_hf_bert.py").is_file()


def test_report_and_validation_files(guide_run, farm):
    import numpy as np

    with np.load(farm / "reference_outputs" / "bert.npz") as ref:
        assert ref.files and all(np.isfinite(ref[k]).all() for k in ref.files)
    assert "# hwcov coverage report" in (farm / "detailed_analysis.md").read_text()
    assert "plotly" in (farm / "coverage_visualization.html").read_text()[:200000]
    assert "## Status" in out_of(guide_run, "--comparative-report --models bert,t5,vit --hardware all "
                                            "--db-path ./benchmark_db.duckdb")
