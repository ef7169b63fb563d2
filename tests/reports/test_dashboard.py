"""The dashboard in a real browser (Playwright + Debian chromium)."""
import pandas as pd
import pytest
from playwright.sync_api import sync_playwright

from hwcov.cases import generate
from hwcov.core.schema import conform
from hwcov.models.inventory import Architecture
from hwcov.reports import dashboard
from hwcov.models import checkpoints
from hwcov.run import checkpoint_sweep, sweep
from tests.models.checkpoint_factory import save_bert

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
EVIL = "<script>window.pwned = 1</script> broke"


@pytest.fixture(scope="module")
def site(archs, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dash")
    chosen = [archs[m] for m in ("bert", "gpt2", "vit")]
    rows = sweep.sweep(generate.generate(chosen, tmp / "gen"), "cpu", tmp / "art", progress=False, log=lambda m: None)
    # A failure whose message carries markup: it must show as text, never run.
    rows.append({**rows[0], "model_type": "vit", "hardware": "cuda", "status": "fail_to_run", "error_message": EVIL,
                 "error_pattern": "unclassified"})
    inventory = pd.DataFrame([a.row() for a in chosen])
    history = pd.DataFrame([{"snapshot_at": pd.Timestamp("2026-11-01"), "hardware": "cpu", "category": "vision",
                             "architectures": 3, "passed": 2, "pass_rate": 2 / 3}])
    # Real measurements (tiny budgets): the benchmarks page plots what benchmark.run_cell measured.
    from hwcov.bench import cells as benchmark

    bench = pd.DataFrame([benchmark.run_cell(generate.case_for(a), "cpu", "fp32", b, 16, min_duration_s=0.05,
                                             warmup=1, min_iters=3) for a in chosen[:2] for b in (1, 2)])
    # A user's checkpoint, run for real; a second row under a key that carries markup.
    ck = checkpoints.resolve(str(save_bert(tmp / "ck")))
    checkpoint_sweep.run([ck], "cpu", tmp / "art", tmp / "gen", precision="fp32", log=lambda m: None)
    ck_rows = checkpoint_sweep.rows(tmp / "art", "cpu")
    ck_rows.append({**ck_rows[0], "checkpoint": EVIL})
    index = dashboard.write(inventory, conform(rows), history, tmp / "site", bench, conform(ck_rows))
    assert Architecture.from_row(inventory.iloc[0].to_dict()).model_type == "bert"
    return index.parent


@pytest.fixture(scope="module")
def page():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        pg = browser.new_page()
        pg.console_errors = []
        pg.on("console", lambda m: pg.console_errors.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
        yield pg
        browser.close()


@pytest.mark.parametrize("name", ["index.html", "models.html", "hardware.html", "benchmarks.html", "errors.html",
                                  "trends.html", "checkpoints.html", "models/bert.html"])
def test_pages_load_without_console_errors(site, page, name):
    page.console_errors.clear()
    page.goto((site / name).as_uri())
    page.wait_for_load_state("load")
    assert page.console_errors == []
    assert page.locator("nav a").count() == 7


def test_heatmap_renders_with_data(site, page):
    page.goto((site / "index.html").as_uri())
    page.wait_for_selector(".js-plotly-plot .heatmaplayer", timeout=15000)
    assert "architectures" in page.inner_text(".cards")


def test_benchmarks_page_plots_the_measured_cells(site, page):
    page.goto((site / "benchmarks.html").as_uri())
    page.wait_for_selector(".js-plotly-plot .boxlayer", timeout=15000)  # p50 at batch 1 by category
    assert page.locator(".js-plotly-plot").count() == 2  # + batch scaling (batch 1 and 2 measured)
    rows = page.locator("#bench tbody tr")
    assert rows.count() == 4 and "cpu" in rows.nth(0).inner_text()


def test_benchmarks_page_without_cells_says_how_to_measure(tmp_path, page):
    empty = pd.DataFrame(columns=["model_type", "category", "family", "priority"])
    index = dashboard.write(empty, conform([]), pd.DataFrame(), tmp_path / "site")
    page.goto((index.parent / "benchmarks.html").as_uri())
    assert "hwcov --benchmark-baseline" in page.inner_text("main")


def test_filter_narrows_the_model_table(site, page):
    page.goto((site / "models.html").as_uri())
    rows = page.locator("#models tbody tr")
    assert rows.count() == 3
    page.fill("#q", "gpt")
    assert page.inner_text("#shown") == "1"
    assert [r for r in range(3) if rows.nth(r).is_visible()] == [1]
    page.fill("#q", "")
    page.select_option("#st", "fail_to_run")
    assert page.inner_text("#shown") == "1"


def test_markup_in_data_is_shown_as_text(site, page):
    page.goto((site / "errors.html").as_uri())
    assert EVIL in page.inner_text("main")
    assert page.evaluate("typeof window.pwned") == "undefined"


def test_checkpoints_sit_on_a_page_of_their_own(site, page):
    page.goto((site / "checkpoints.html").as_uri())
    rows = page.locator("#checkpoints tbody tr")
    assert rows.count() == 2 and "pass" in rows.nth(0).inner_text() and "tokenizer" in rows.nth(0).inner_text()
    assert EVIL in page.inner_text("main") and page.evaluate("typeof window.pwned") == "undefined"
    page.goto((site / "models.html").as_uri())
    assert page.locator("#models tbody tr").count() == 3  # the architecture matrix holds no checkpoint


def test_screenshots_are_png_images_of_every_page(site, page, tmp_path):
    from hwcov.reports import screenshots
    from hwcov.reports.dashboard import NAV

    shots = screenshots.take(site, tmp_path / "shots", page=page)
    assert [s.name for s in shots] == [n.replace(".html", ".png") for n, _ in NAV]
    for shot in shots:
        head = shot.read_bytes()[:8]
        assert head == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000, shot


@pytest.mark.parametrize("model_type", ["../../escaped", "/tmp/absolute", "..\\..\\win", "<script>x</script>"])
def test_stored_names_never_write_outside_the_output_folder(tmp_path, model_type):
    """A stored model_type names a page: the file stays inside --output and the markup is escaped (issue #28)."""
    rows = [{"model_type": model_type, "category": "text", "family": "f", "hardware": "cpu", "precision": "fp32",
             "batch_size": 1, "status": "fail_to_run", "error_message": EVIL, "error_pattern": "unclassified"}]
    inventory = pd.DataFrame([{"model_type": model_type, "category": "text", "family": "f", "priority": 1}])
    out = tmp_path / "a" / "site"
    dashboard.write(inventory, conform(rows), pd.DataFrame(), out)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to(out.resolve()) for p in written), written
    pages = list((out / "models").iterdir())
    assert len(pages) == 1 and "<script>x" not in pages[0].read_text()
    link = dashboard.page_name(model_type)
    assert f'href="models/{link}"' in (out / "models.html").read_text()
    assert dashboard.page_name("kosmos-2.5") == "kosmos-2.5.html"
