"""AppTest runs of every dashboard page over a fixture snapshot, and the no-snapshot message."""

from __future__ import annotations

from pathlib import Path

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


def test_leaderboard_page_shows_latest_day(snapshot):
    board = read_review_snapshot(snapshot)["leaderboard"]
    latest = board.iloc[-1]
    app = _run()
    assert app.title[0].value == "Model leaderboard"
    metrics = _metrics(app)
    assert metrics["Replay contribution rate"] == f"{latest['model_rate']:.2%}" == "34.38%"
    assert metrics["Lift vs popularity baseline"] == f"{latest['lift']:+.1%}" == "+71.9%"
    assert metrics["Mean AUC over heads"] == "0.7350"
    assert metrics["Training"] == "Incremental"
    rate_card = next(m for m in app.metric if m.label == "Replay contribution rate")
    assert rate_card.delta == "+14.38 pp vs popularity"
    assert "feed-2024-03-02" in app.subheader[0].value
    assert len(app.dataframe) == 1 and len(app.dataframe[0].value) == 2


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


def test_snapshot_path_from_data_root(tmp_path, monkeypatch):
    from dashboards import data

    monkeypatch.delenv("LIRANK_REVIEW_SNAPSHOT", raising=False)
    monkeypatch.setenv("LIRANK_DATA_ROOT", str(tmp_path))
    assert data.snapshot_path() == tmp_path / "review" / "review.duckdb"
    monkeypatch.setenv("LIRANK_REVIEW_SNAPSHOT", str(tmp_path / "x.duckdb"))
    assert data.snapshot_path() == tmp_path / "x.duckdb"
