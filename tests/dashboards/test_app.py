"""AppTest runs of every dashboard page over a fixture snapshot, and the no-snapshot message."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from models.reporting.review import read_review_snapshot

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")
TIMEOUT = 60


def _run(page: str | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    if page is not None:
        app.switch_page(page)
        app.run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def _metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def test_leaderboard_opens_with_the_verdict_vs_production(snapshot):
    overview = read_review_snapshot(snapshot)["overview"].set_index("reference")
    production = overview.loc["production"]
    app = _run()
    assert app.title[0].value == "Model leaderboard"
    assert app.subheader[0].value == "Verdict over 2 evaluated days"
    # The truth's verdict, stated plainly, comes first; replay alone would not see the loss.
    assert [e.value for e in app.error] == [
        "**Model LOSES to production** (ground truth, 4,100 paired sessions over 2 days)."
    ]
    assert [s.value for s in app.success] == [
        "**Model beats popularity** (ground truth, 4,100 paired sessions over 2 days)."
    ]
    assert any("Replay alone says no significant difference" in c.value for c in app.caption)
    metrics = {m.label: m for m in app.metric}
    truth = metrics["Ground truth vs production"]
    assert truth.value == f"{production['truth_difference']:+.4f}" == "-0.0085"
    assert truth.delta == "95% CI -0.0097 to -0.0073"
    assert metrics["Replay vs production"].value == "+5.4 pp"
    assert metrics["Replay vs production"].delta == "95% CI -0.9 pp to +11.7 pp"
    assert metrics["Ground truth vs popularity baseline"].value == "+0.1243"
    assert metrics["Replay vs popularity baseline"].delta == "95% CI +8.9 pp to +17.4 pp"


def test_leaderboard_per_day_figures_have_no_lift(snapshot):
    app = _run()
    metrics = {m.label: m for m in app.metric}
    assert metrics["Replay contribution rate"].value == "34.38%"
    assert metrics["Replay contribution rate"].delta == "95% CI 29.91% – 39.13%"
    assert metrics["Mean AUC over heads"].value == "0.7350"
    assert metrics["Training"].value == "Incremental"
    assert not any("lift" in label.lower() for label in metrics)
    assert not any("%" in (m.delta or "") and "CI" not in m.delta for m in app.metric)
    table = app.dataframe[0].value
    assert list(table["Day"]) == ["2024-03-02", "2024-03-01"]
    latest = table.iloc[0]
    assert latest["Production (truth)"] == "-0.0080 [-0.0097, -0.0063]"
    assert latest["Production (replay, pp)"] == "+5.4 [-0.9, +11.7]"
    assert latest["Popularity (truth)"] == "+0.1350 [+0.1320, +0.1380]"
    assert table.iloc[1]["Production (replay, pp)"] == "—"  # not replayed on day 1
    assert latest["Replay rate"] == "34.38% [29.91%, 39.13%]"
    assert not any("lift" in name.lower() for name in table.columns)


def test_leaderboard_charts_switch_reference(snapshot):
    app = _run()

    def headings() -> list[str]:
        return [m.value for m in app.markdown if m.value.startswith("**Ground truth:")]

    assert app.radio(key="reference").value == "production"
    assert headings() == ["**Ground truth: model − production, 95% interval**"]
    app.radio(key="reference").set_value("popularity_baseline").run()
    assert not app.exception
    assert headings() == ["**Ground truth: model − popularity baseline, 95% interval**"]


def test_leaderboard_without_ground_truth_says_replay_only(snapshot_without_truth):
    app = _run()
    assert "No ground truth: replay only." in [i.value for i in app.info]
    assert not app.error
    assert [s.value for s in app.success] == ["**Model beats popularity** (replay over 2 days)."]
    assert "**No significant difference from production** (replay over 1 day)." in [
        i.value for i in app.info
    ]
    assert not any(m.label.startswith("Ground truth") for m in app.metric)


def test_heads_page_switches_head(snapshot):
    app = _run("pages/heads.py")
    assert app.title[0].value == "Per-head offline metrics"
    assert app.selectbox(key="head").options == ["click", "like"]
    metrics = _metrics(app)
    assert metrics == {"AUC": "0.7200", "Log loss": "0.2980", "Calibration (O/E)": "1.0210"}
    auc_card = next(m for m in app.metric if m.label == "AUC")
    assert auc_card.delta == "+0.1100 vs popularity"
    app.selectbox(key="head").select("like").run()
    assert _metrics(app)["AUC"] == "0.7500"
    assert "`like`" in app.subheader[0].value


def test_replay_page_shows_each_ranker_with_interval(snapshot):
    replay = read_review_snapshot(snapshot)["replay_metrics"]
    latest = replay[replay["date"] == replay["date"].max()].set_index("ranker")
    app = _run("pages/replay.py")
    assert app.title[0].value == "Replay contribution rate"
    metrics = _metrics(app)
    assert list(metrics) == ["Model", "Popularity baseline", "Production", "Random"]
    assert metrics["Model"] == f"{latest.loc['model', 'rate']:.2%}"
    assert metrics["Random"] == "14.96%"
    model_card = app.metric[0]
    assert model_card.delta == "95% CI 29.91% – 39.13%"
    # Ground truth is present in the fixture, so the expected-contributions chart is shown too.
    markdown = " ".join(m.value for m in app.markdown)
    assert "Ground truth" in markdown


@pytest.mark.parametrize("page", [None, "pages/heads.py", "pages/replay.py"])
def test_missing_snapshot_shows_a_friendly_message(tmp_path, monkeypatch, page):
    missing = tmp_path / "nowhere" / "review.duckdb"
    monkeypatch.setenv("LIRANK_REVIEW_SNAPSHOT", str(missing))
    app = _run(page)
    assert len(app.info) == 1
    assert str(missing) in app.info[0].value and "make demo" in app.info[0].value
    assert not app.metric


def test_out_of_date_snapshot_asks_for_a_new_one(tmp_path, monkeypatch):
    old = tmp_path / "review.duckdb"
    with duckdb.connect(str(old)) as conn:
        conn.execute("CREATE TABLE models (date DATE, model_id VARCHAR)")
    monkeypatch.setenv("LIRANK_REVIEW_SNAPSHOT", str(old))
    app = _run()
    assert len(app.warning) == 1
    assert "out of date" in app.warning[0].value and "make demo" in app.warning[0].value
    assert not app.metric


def test_snapshot_path_from_data_root(tmp_path, monkeypatch):
    from dashboards import data

    monkeypatch.delenv("LIRANK_REVIEW_SNAPSHOT", raising=False)
    monkeypatch.setenv("LIRANK_DATA_ROOT", str(tmp_path))
    assert data.snapshot_path() == tmp_path / "review" / "review.duckdb"
    monkeypatch.setenv("LIRANK_REVIEW_SNAPSHOT", str(tmp_path / "x.duckdb"))
    assert data.snapshot_path() == tmp_path / "x.duckdb"
