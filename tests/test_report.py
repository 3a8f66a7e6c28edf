"""report.html: tables, the paper comparison, readable conversations, charts whose labels never overlap, and a
page that a real browser (headless Chromium) renders."""

import itertools
import shutil
import subprocess

import pytest
from intent_mediator.report import chart_figures, write_report
from intent_mediator.simulation.conversation import ConversationSettings
from intent_mediator.simulation.runner import evaluate
from intent_mediator.testing.refiner_world import LAZY, RECORDS, roles, world


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    settings = ConversationSettings(roles=roles(world()), persona=LAZY)
    evaluate(RECORDS[:3], ["full", "sharded", "mediated"], 1, out, settings, workers=2, progress=False)
    write_report(out, "test <report>")
    return out


def test_the_page_has_every_section_and_each_conversation(run_dir):
    page = (run_dir / "report.html").read_text()
    for heading in ("Performance", "Compared with the paper", "Tokens and cost by role", "Charts", "Conversations"):
        assert f">{heading}</h2>" in page
    assert "test &lt;report&gt;" in page  # titles are escaped
    assert page.count("<details class='trajectory'>") == 9
    assert "Mediator request" in page and RECORDS[0].shards[1].shard in page
    assert "86.9" in page and ">mediator</td>" in page  # the paper's full-mode P; the mediator's usage row


def _overlaps(fig) -> list[tuple[str, str]]:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    from matplotlib.text import Text

    texts = list({id(t): t for t in fig.findobj(Text)}.values())  # some texts are reached through two parents
    boxes = [
        (t.get_text(), t.get_window_extent(renderer))
        for t in texts
        if t.get_visible() and t.get_text().strip() and t.get_window_extent(renderer).width > 0
    ]
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]


def test_chart_labels_never_overlap_even_with_every_mode_and_many_tasks():
    modes = ["full", "concat", "sharded", "recap", "snowball", "drop-assistant", "ergo", "mediated"]
    tasks = ["actions", "code", "data2text", "database", "math", "summary", "translation"]
    cell = {"P": 100.0, "A90": 100.0, "U90_10": 30.0, "R": 70.0, "n": 5}
    summary = {
        "per_task": {task: {mode: dict(cell) for mode in modes} for task in tasks},
        "overall": {mode: dict(cell) for mode in modes},
    }
    for name, fig in chart_figures(summary).items():
        assert _overlaps(fig) == [], name


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_headless_chromium_renders_the_report(run_dir, tmp_path):
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    url = (run_dir / "report.html").as_uri()
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert '<h2 id="trajectories">Conversations</h2>' in dom and dom.count("<details") == 9
    assert dom.count("<img") == 2
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1200,1600", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
