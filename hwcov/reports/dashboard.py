"""Static HTML dashboard: overview, model explorer (+ a page per model), hardware, benchmarks, error patterns,
trends.

Plots are plotly figures served from a local copy of plotly.js (no CDN); every string that comes
from the data goes through html.escape (Jinja autoescape) before it reaches a page. A file name built from a
stored value is a safe name (page_name), and every page is asserted to land inside the output folder.
"""
from __future__ import annotations

import hashlib
import html
import re
import shutil
import time
from pathlib import Path

import jinja2
import pandas as pd

from hwcov.core.paths import TEMPLATES_DIR
from hwcov.reports import analysis, report

NAV = [("index.html", "Overview"), ("models.html", "Models"), ("hardware.html", "Hardware"),
       ("benchmarks.html", "Benchmarks"), ("errors.html", "Error patterns"), ("trends.html", "Trends"),
       ("checkpoints.html", "Checkpoints")]
BENCH_TABLE = ["model_type", "category", "hardware", "precision", "batch_size", "seq_len", "variant", "status",
               "p50_ms", "p90_ms", "p99_ms", "stdev_pct", "throughput_items_s", "peak_rss_mb", "iterations",
               "device_name"]
STATUS_COLORS = {"pass": "#18794e", "fail_to_run": "#b42318", "fail_accuracy": "#e8590c", "unsupported_op": "#c2255c",
                 "timeout": "#862e9c", "oom": "#5f3dc4", "crash": "#000000", "unavailable": "#adb5bd",
                 "not_applicable": "#ced4da", "skipped_known": "#868e96", "flaky": "#f08c00", "untested": "#e9ecef"}

FILTER_JS = """
const q = document.getElementById('q'), cat = document.getElementById('cat'), st = document.getElementById('st');
function apply() {
  const text = q.value.toLowerCase();
  let shown = 0;
  for (const tr of document.querySelectorAll('#models tbody tr')) {
    const ok = tr.dataset.name.includes(text) && (!cat.value || tr.dataset.category === cat.value)
      && (!st.value || tr.dataset.statuses.split(' ').includes(st.value));
    tr.style.display = ok ? '' : 'none';
    shown += ok;
  }
  document.getElementById('shown').textContent = shown;
}
for (const el of [q, cat, st]) el.addEventListener('input', apply);
"""


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR / "dashboard"), autoescape=True)


def _figure(fig) -> str:
    import plotly.io as pio

    return pio.to_html(fig, include_plotlyjs=False, full_html=False, config={"displaylogo": False})


def _e(value) -> str:
    return html.escape("" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value))


def page_name(model_type) -> str:
    """The file name of a model's page: the model type when plain (letters, digits, `_.-`, no `..`), else a slug
    plus a short hash of it, so a stored value never names a folder, a parent or an absolute path."""
    text = str(model_type)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,150}", text) or ".." in text:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        text = f"{re.sub(r'[^A-Za-z0-9_-]+', '_', text).strip('_')[:60] or 'model'}-{digest}"
    return f"{text}.html"


def _table(df: pd.DataFrame, table_id: str = "", row_attrs=None) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in df.columns)
    rows = []
    for rec in df.to_dict("records"):
        attrs = row_attrs(rec) if row_attrs else ""
        cells = "".join(f'<td class="s-{_e(v)}">{_e(v)}</td>' if k == "status" else f"<td>{_e(v)}</td>"
                        for k, v in rec.items())
        rows.append(f"<tr{attrs}>{cells}</tr>")
    return f'<table id="{_e(table_id)}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


class Dashboard:
    def __init__(self, inventory: pd.DataFrame, results: pd.DataFrame, history: pd.DataFrame, out: Path,
                 benchmarks: pd.DataFrame | None = None, checkpoints: pd.DataFrame | None = None):
        self.inv, self.res, self.hist, self.out = inventory, results, history, Path(out)
        self.ckpt = checkpoints
        self.bench = benchmarks if benchmarks is not None else pd.DataFrame(columns=BENCH_TABLE)
        self.cells = report.coverage_matrix(inventory, results)
        self.env = _env()
        self.generated = time.strftime("%Y-%m-%d %H:%M")

    def page(self, path: str, title: str, body: str, script: str = "") -> None:
        depth = path.count("/")
        text = self.env.get_template("page.html.j2").render(
            title=title, body=_markup(body),
            nav=NAV, root="../" * depth, generated=self.generated, script=_markup(script))
        target = self.out / path
        if not target.resolve().is_relative_to(self.out.resolve()):
            raise AssertionError(f"{path!r} would be written outside {self.out}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def write(self) -> Path:
        import plotly.offline

        assets = self.out / "assets"
        assets.mkdir(parents=True, exist_ok=True)
        (assets / "plotly.min.js").write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
        shutil.copyfile(TEMPLATES_DIR / "dashboard" / "hwcov.css", assets / "hwcov.css")
        self.overview()
        self.models()
        self.hardware()
        self.benchmarks()
        self.errors()
        self.trends()
        self.checkpoints()
        (self.out / "coverage_report.md").write_text(report.markdown(self.inv, self.res, self.ckpt), encoding="utf-8")
        return self.out / "index.html"

    def overview(self) -> None:
        tested = self.cells[~self.cells["status"].isin(["untested", "unavailable"])]
        fig, bars = coverage_figures(self.cells, report.mode_cells(self.inv, self.res))
        worst = report.pass_rates(self.cells, ["hardware"]).sort_values("pass_rate")
        cards = [("architectures", self.inv["model_type"].nunique()), ("hardware with results",
                 self.res["hardware"].nunique()), ("cases run", len(tested)),
                 ("passing cases", int((tested["status"] == "pass").sum())),
                 ("lowest coverage", f"{worst.iloc[0]['hardware']} {worst.iloc[0]['pass_rate']:.0%}" if len(worst) else "-")]
        body = '<div class="cards">' + "".join(f'<div class="card"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in cards)
        body += "</div>" + _figure(fig) + _figure(bars)
        self.page("index.html", "Overview", body)

    def models(self) -> None:
        wide = self.cells.pivot_table(index=["model_type", "category", "family", "priority"], columns="hardware",
                                      values="status", aggfunc="first", fill_value="untested").reset_index()
        hw = [c for c in wide.columns if c not in ("model_type", "category", "family", "priority")]

        def attrs(rec):
            statuses = " ".join(sorted({rec[h] for h in hw}))
            return (f' data-name="{_e(rec["model_type"])}" data-category="{_e(rec["category"])}"'
                    f' data-statuses="{_e(statuses)}"')

        shown = wide.copy()
        table = _table(shown, "models", attrs)
        for mt in shown["model_type"]:  # link each name to its page
            table = table.replace(f"<td>{_e(mt)}</td>", f'<td><a href="models/{_e(page_name(mt))}">{_e(mt)}</a></td>', 1)
        options = "".join(f"<option>{_e(c)}</option>" for c in sorted(wide["category"].unique()))
        status_opts = "".join(f"<option>{_e(s)}</option>" for s in sorted(self.cells["status"].unique()))
        body = (f'<div class="filters"><input id="q" placeholder="filter by model type">'
                f'<select id="cat"><option value="">all categories</option>{options}</select>'
                f'<select id="st"><option value="">any status</option>{status_opts}</select>'
                f'<span><span id="shown">{len(wide)}</span> shown</span></div>' + table)
        self.page("models.html", "Models", body, FILTER_JS)
        for mt, rows in self.res.groupby("model_type"):
            self.model_page(mt, rows)

    def model_page(self, model_type: str, rows: pd.DataFrame) -> None:
        cols = ["hardware", "precision", "batch_size", "status", "max_abs_diff", "tolerance", "execution_time_ms",
                "memory_usage_mb", "device_name", "runtime_version", "error_pattern", "error_message"]
        arch = self.inv[self.inv["model_type"] == model_type].head(1)
        columns = [c for c in ("model_type", "category", "family", "priority", "base_class", "tasks") if c in arch]
        facts = _table(arch[columns]) if len(arch) else ""
        self.page(f"models/{page_name(model_type)}", model_type,
                  facts + "<h2>Results across hardware</h2>" + _table(rows[cols].sort_values(["hardware", "precision"])))

    def hardware(self) -> None:
        import plotly.express as px

        ok = self.res[self.res["status"] == "pass"].merge(self.inv[["model_type"]], on="model_type")
        body = ""
        if len(ok):
            body += _figure(px.box(ok, x="category", y="execution_time_ms", color="hardware", log_y=True,
                                   title="Forward latency of passing cases by category (ms, log scale)"))
            body += _figure(px.box(ok, x="hardware", y="memory_usage_mb", color="hardware",
                                   title="Peak memory growth per case (MB)"))
        body += _table(report.pass_rates(self.cells, ["hardware"]))
        stages = report.stages(self.res)
        if len(stages):
            body += "<h2>Stages per runtime (of the CPU fp32 passes)</h2>" + _table(stages)
        self.page("hardware.html", "Hardware", body)

    def benchmarks(self) -> None:
        """Measured cells only (hwcov.benchmark_results): latency per hardware, batch scaling, the cells."""
        import plotly.express as px

        ok = self.bench[self.bench["status"] == "pass"] if len(self.bench) else self.bench
        if ok.empty:
            self.page("benchmarks.html", "Benchmarks", "<p>No benchmark cells yet: <code>hwcov --benchmark-baseline "
                      "--hardware cpu</code> measures every architecture that passes there.</p>")
            return
        ok = ok.assign(cell=ok["hardware"] + " " + ok["precision"])
        single = ok[ok["batch_size"] == 1]
        body = ""
        if len(single):
            body += _figure(px.box(single, x="category", y="p50_ms", color="cell", log_y=True, points="all",
                                   hover_data=["model_type", "seq_len", "variant"],
                                   title="p50 latency at batch 1 by category (ms, log scale)"))
        scaling = ok.groupby(["cell", "batch_size"]).agg(throughput=("throughput_items_s", "median"),
                                                         architectures=("model_type", "nunique")).reset_index()
        if scaling["batch_size"].nunique() > 1:
            body += _figure(px.line(scaling, x="batch_size", y="throughput", color="cell", markers=True, log_x=True,
                                    hover_data=["architectures"],
                                    title="Batch scaling: median throughput over architectures (items/s)"))
        counts = self.bench.groupby(["hardware", "precision", "status"]).size().reset_index(name="cells")
        body += "<h2>Cells per hardware</h2>" + _table(counts)
        columns = [c for c in BENCH_TABLE if c in self.bench.columns]
        shown = self.bench.sort_values(["model_type", "hardware", "precision", "batch_size"])[columns].head(2000)
        body += f"<h2>Cells ({len(shown)} of {len(self.bench)})</h2>" + _table(shown.round(3), "bench")
        self.page("benchmarks.html", "Benchmarks", body)

    def errors(self) -> None:
        import plotly.express as px

        fails = analysis.failures(self.res)
        body = ""
        if len(fails):
            counts = fails.groupby(["error_pattern", "hardware"]).size().reset_index(name="failures")
            body += _figure(px.bar(counts, x="failures", y="error_pattern", color="hardware", orientation="h",
                                   title="Failures by error pattern"))
        from hwcov.run import patterns

        summary = pd.DataFrame(patterns.summarize(self.res.to_dict("records")))
        if len(summary):
            body += _table(summary[["hardware", "pattern", "count", "explanation", "suggested_fix", "example"]])
        else:
            body += "<p>No failures recorded.</p>"
        self.page("errors.html", "Error patterns", body)

    def trends(self) -> None:
        import plotly.express as px

        if self.hist.empty:
            body = "<p>No snapshots yet: every coverage_report materialization adds one.</p>"
        else:
            per = self.hist.groupby(["snapshot_at", "hardware"]).agg(passed=("passed", "sum"),
                                                                     cells=("architectures", "sum")).reset_index()
            per["pass_rate"] = per["passed"] / per["cells"]
            body = _figure(px.line(per, x="snapshot_at", y="pass_rate", color="hardware", markers=True,
                                   title="Pass rate per hardware over time", range_y=[0, 1]))
            body += _table(per.sort_values("snapshot_at", ascending=False).head(50))
        self.page("trends.html", "Trends", body)


    def checkpoints(self) -> None:
        """Users' own checkpoints beside (never inside) the architecture matrix."""
        wide = report.checkpoint_matrix(self.ckpt)
        body = ("<p>Your checkpoints with their trained weights and their own tokenizer or processor: status per "
                "precision, with the max relative error against the checkpoint's CPU fp32 reference.</p>")
        body += _table(wide, "checkpoints") if len(wide) else \
            "<p>No checkpoint has run yet: <code>hwcov --checkpoint PATH_OR_ID</code>.</p>"
        self.page("checkpoints.html", "Checkpoints", body)


def coverage_figures(cells: pd.DataFrame, modes: pd.DataFrame | None = None):
    """The pass-rate heatmap (category x hardware, and a column per mode a runtime measured: report.mode_cells) and
    the status bars of a coverage matrix."""
    import plotly.express as px

    both = cells if modes is None or modes.empty else pd.concat([cells, modes], ignore_index=True)
    rates = report.pass_rates(both, ["hardware", "category"])
    heat = rates.pivot(index="category", columns="hardware", values="pass_rate")
    title = "Pass rate by category and hardware" + (
        " (a '· dynamic' or '· generate' column: of that runtime's fp32 passes)" if both is not cells else "")
    fig = px.imshow(heat, text_auto=".0%", color_continuous_scale="RdYlGn", zmin=0, zmax=1, aspect="auto",
                    title=title)
    counts = cells.groupby(["hardware", "status"]).size().reset_index(name="architectures")
    bars = px.bar(counts, x="hardware", y="architectures", color="status", color_discrete_map=STATUS_COLORS,
                  title="Status per hardware")
    return fig, bars


def coverage_page(inventory: pd.DataFrame, results: pd.DataFrame, target: Path) -> Path:
    """The overview's two figures as one self-contained HTML file (plotly.js inline: opens without a server)."""
    fig, bars = coverage_figures(report.coverage_matrix(inventory, results))
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    body = fig.to_html(full_html=False, include_plotlyjs=True) + bars.to_html(full_html=False, include_plotlyjs=False)
    target.write_text(f"<!doctype html><meta charset=utf-8><title>hwcov coverage</title>{body}", encoding="utf-8")
    return target


def _markup(text: str):
    from markupsafe import Markup

    return Markup(text)


def write(inventory: pd.DataFrame, results: pd.DataFrame, history: pd.DataFrame, out: Path,
          benchmarks: pd.DataFrame | None = None, checkpoints: pd.DataFrame | None = None) -> Path:
    return Dashboard(inventory, results, history, out, benchmarks, checkpoints).write()
