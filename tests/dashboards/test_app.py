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


def test_overview_states_the_verdict_in_words_with_its_interval(snapshot):
    overview = read_review_snapshot(snapshot)["overview"].set_index("reference")
    production = overview.loc["production"]
    assert round(production["truth_difference"] * 100, 1) == -0.8
    app = _run()
    assert app.title[0].value == "Overview"
    assert "Promoted model now: **`feed-2024-03-02`**" in app.markdown[0].value
    assert app.subheader[0].value == "Verdict over 2 evaluated days"
    # The truth's verdict comes first, in words, with the difference and interval that decided it.
    assert [e.value for e in app.error] == [
        "**Model LOSES to production: -0.8 points [-1.0, -0.7]**  \nexpected contributions per "
        "session of the #1 pick (ground truth), paired over 4,100 sessions on 2 days"
    ]
    assert [s.value.split("**")[1] for s in app.success] == [
        "Model beats popularity: +12.4 points [+12.2, +12.6]"
    ]
    # Replay is the secondary line, and says when it alone would not see the loss.
    assert any(
        c.value.startswith(
            "Replay: +5.4 points [-0.9, +11.7] over 1 day; replay alone says no "
            "significant difference"
        )
        for c in app.caption
    )


def test_overview_per_day_figures_are_secondary_and_rounded(snapshot):
    app = _run()
    assert app.subheader[1].value == "Per day"
    metrics = {m.label: m for m in app.metric}
    assert metrics["Replay contribution rate"].value == "34.4%"
    assert metrics["Replay contribution rate"].delta == "95% CI 29.9% – 39.1%"
    assert metrics["Mean AUC over heads"].value == "0.735"
    assert metrics["Training"].value == "Incremental"
    assert not any("lift" in label.lower() for label in metrics)
    table = app.dataframe[0].value
    assert list(table["Day"]) == ["2024-03-02", "2024-03-01"]
    latest = table.iloc[0]
    assert latest["Production (truth, points)"] == "-0.8 [-1.0, -0.6]"
    assert latest["Production (replay, points)"] == "+5.4 [-0.9, +11.7]"
    assert latest["Popularity (truth, points)"] == "+13.5 [+13.2, +13.8]"
    assert table.iloc[1]["Production (replay, points)"] == "—"  # not replayed on day 1
    assert latest["Replay rate"] == "34.4% [29.9%, 39.1%]"


def test_overview_charts_switch_reference(snapshot):
    app = _run()

    def headings() -> list[str]:
        return [m.value for m in app.markdown if m.value.startswith("**Ground truth:")]

    assert app.radio(key="reference").value == "production"
    assert headings() == ["**Ground truth: model − production, 95% interval**"]
    app.radio(key="reference").set_value("popularity_baseline").run()
    assert not app.exception
    assert headings() == ["**Ground truth: model − popularity baseline, 95% interval**"]


def test_overview_without_ground_truth_says_replay_only(snapshot_without_truth):
    app = _run()
    assert "No ground truth: replay only." in [i.value for i in app.info]
    assert not app.error
    assert [s.value.split("**")[1] for s in app.success] == [
        "Model beats popularity: +13.2 points [+8.9, +17.4]"
    ]
    assert any(
        i.value.startswith("**No significant difference from production: +5.4 points")
        for i in app.info
    )
    assert "Latest model evaluated: **`feed-2024-03-02`**" in [m.value for m in app.markdown]


def test_model_detail_shows_heads_with_intervals_segments_and_lineage(snapshot):
    app = _run("views/model.py")
    assert app.title[0].value == "Model detail"
    assert app.selectbox(key="day").value == "2024-03-02"
    heads = app.dataframe[0].value.set_index("Head")
    assert heads.loc["click", "AUC [95% CI]"] == "0.720 [0.700, 0.740]"
    assert heads.loc["click", "Popularity AUC [95% CI]"] == "0.610 [0.590, 0.630]"
    assert heads.loc["click", "Log loss"] == "0.298" and heads.loc["click", "O/E"] == "1.02"
    assert heads.loc["like", "Rows"] == 9100
    assert app.selectbox(key="head").options == ["click", "like"]
    markdown = [m.value for m in app.markdown]
    assert "**Reliability diagram: `click`**" in markdown
    assert "**Training loss per epoch (2 epochs)**" in markdown
    lineage = next(m for m in markdown if m.startswith("**Lineage**"))
    assert "warm-started from `feed-2024-03-01`" in lineage and "trained on 2024-03-02" in lineage
    # Segments: content type first; new vs known members one click away.
    assert app.radio(key="segment").value == "content_type"
    app.radio(key="segment").set_value("member").run()
    members = app.dataframe[1].value.set_index("New vs known members")
    assert members.loc["new", "AUC [95% CI]"] == "0.650 [0.600, 0.700]"
    assert members.loc["known", "O/E"] == "1.02"


def test_model_detail_shows_the_compressed_model(snapshot):
    app = _run("views/model.py")
    text = " ".join(m.value for m in app.markdown)
    assert "**Compressed for serving** (`compressed_feed_model`, middle_max_8bit)" in text
    assert "2.56 MB vs 9.03 MB in fp32 (28.3%)" in text


def test_model_detail_switches_day_and_head(snapshot):
    app = _run("views/model.py")
    app.selectbox(key="day").select("2024-03-01").run()
    assert "`feed-2024-03-01` on 2024-03-01" in app.subheader[0].value
    assert app.dataframe[0].value.set_index("Head").loc["click", "AUC [95% CI]"] == (
        "0.710 [0.690, 0.730]"
    )
    assert any("Cold start" in m.value for m in app.markdown)
    app.selectbox(key="head").select("like").run()
    assert not app.exception
    assert "`like` over days" in app.subheader[-1].value


def test_model_detail_without_details_says_what_is_missing(snapshot_without_truth):
    app = _run("views/model.py")
    assert [i.value for i in app.info] == [
        "No reliability diagram for this model in the snapshot.",
        "No segment metrics for this model in the snapshot.",
        "No training curve for this model in the snapshot.",
        "No lineage for this model in the snapshot.",
    ]
    assert app.dataframe[0].value.set_index("Head").loc["click", "AUC [95% CI]"] == "0.720"


def test_gate_page_shows_each_verdict_and_who_serves(snapshot):
    app = _run("views/gate.py")
    assert app.title[0].value == "Model gate"
    assert [s.value for s in app.success] == [
        "**Promoted model now: `feed-2024-03-02`** (as of 2024-03-03)"
    ]
    assert len(app.error) == 1
    assert app.error[0].value.startswith(
        "**`feed-2024-03-03` failed the gate and was NOT promoted**; "
        "`feed-2024-03-02` kept serving."
    )
    assert "log_loss_vs_previous[all]" in app.error[0].value
    table = app.dataframe[0].value.set_index("Model")
    assert list(table.index) == ["feed-2024-03-03", "feed-2024-03-02", "feed-2024-03-01"]
    assert table.loc["feed-2024-03-03", "Gate"] == "FAILED"
    assert table.loc["feed-2024-03-01", "Judged against"] == "popularity only (cold start)"
    assert table.loc["feed-2024-03-03", "Serving after the day"] == "feed-2024-03-02"
    assert not table.loc["feed-2024-03-03", "Promoted"] and table.loc["feed-2024-03-02", "Promoted"]
    checks = app.dataframe[1].value
    assert app.selectbox(key="gate_model").value == "feed-2024-03-03"
    assert dict(zip(checks["Check"], checks["Result"], strict=True)) == {
        "auc_vs_popularity": "pass",
        "ece": "not judged",
        "final_loss": "pass",
        "log_loss_vs_previous": "FAIL",
    }


def test_data_health_page_shows_checks_rates_and_thresholds(snapshot):
    app = _run("views/data_health.py")
    assert app.title[0].value == "Data health"
    assert [e.value for e in app.error] == [
        "**training_examples_quality FAILED on 2024-03-03**: long_dwell rate 0.2400 outside "
        "(0.05, 0.2)"
    ]
    checks = app.dataframe[0].value
    assert list(checks["Result"]) == ["FAIL", "pass", "pass"]
    latest = app.dataframe[1].value.set_index("split")
    assert latest.loc["train", "rows"] == 9900
    assert latest.loc["train", "click"] == pytest.approx(0.1)
    assert app.selectbox(key="split").value == "train"
    thresholds = app.dataframe[2].value
    assert len(thresholds) == 4  # 2 content types x 2 platforms, latest day, position bucket 0
    assert thresholds["threshold_seconds"].max() == pytest.approx(40.5)
    app.selectbox(key="bucket").select(1).run()
    assert app.dataframe[2].value["threshold_seconds"].max() == pytest.approx(45.5)


def test_ablation_page_renders_the_ladder(snapshot):
    app = _run("views/ablation.py")
    assert app.title[0].value == "Ablation"
    assert not app.info
    table = app.dataframe[0].value
    assert list(table["variant"]) == ["dot", "+ residual DCN", "+ isotonic + gating"]
    assert list(table.columns)[:3] == ["run_id", "row", "variant"]
    assert "**Each step vs the row above (95% interval)**" in [m.value for m in app.markdown]


def test_ablation_page_says_how_to_fill_it(snapshot_without_truth):
    app = _run("views/ablation.py")
    assert len(app.info) == 1 and "run `make ablation` to fill this" in app.info[0].value
    assert not app.dataframe


def test_explore_page_shows_the_posteriors_uncertainty_and_reach(snapshot):
    app = _run("views/explore.py")
    assert app.title[0].value == "Explore / exploit"
    metrics = _metrics(app)
    assert metrics["Rows in the posterior"] == "15,000 rows"
    assert metrics["Top slot changed by a draw"] == "33.0%"
    assert metrics["Sessions explored when serving"] == "10%"
    assert not app.warning  # the latest posterior was carried over from the day before
    table = app.dataframe[0].value
    assert list(table["Updated from"]) == ["yesterday", "yesterday", "prior"]


def test_explore_page_without_a_posterior_says_how_to_get_one(snapshot_without_truth):
    app = _run("views/explore.py")
    assert len(app.info) == 1 and "explore_exploit_posterior" in app.info[0].value


def test_random_effects_page_shows_each_heads_lift_with_its_interval(snapshot):
    app = _run("views/popularity.py")
    assert app.title[0].value == "Random effects"
    metrics = {m.label: (m.value, m.delta) for m in app.metric}
    assert metrics["click: AUC lift"] == ("+0.0100", "95% CI +0.0060 to +0.0140")
    assert metrics["like: AUC lift on posts < 1 day old"] == (
        "+0.0280",
        "95% CI +0.0200 to +0.0360",
    )
    assert not app.warning  # the effects helped
    table = app.dataframe[0].value
    assert list(table["Scored hours"]) == ["00-08", "08-16", "16-24"] * 2
    assert table["AUC lift 95% CI"].iloc[0] == "95% CI +0.0070 to +0.0150"


def test_random_effects_page_without_effects_says_how_to_get_them(snapshot_without_truth):
    app = _run("views/popularity.py")
    assert len(app.info) == 1 and "windowed_random_effects" in app.info[0].value


def test_ads_page_says_plainly_that_the_model_loses_and_shows_each_head(snapshot):
    app = _run("views/ads.py")
    assert app.title[0].value == "Ads CTR"
    caption = app.caption[0].value
    assert "website visit" in caption and "any engagement" in caption and "video views" in caption
    assert "pCTR × bid" in caption
    assert "**2024-03-02**, scored by `ads-2024-03-02`" in [m.value for m in app.markdown]
    # The loss on AUC comes with its interval and in red; the win on ECE in green.
    assert [e.value for e in app.error] == [
        "**Model LOSES to production on `auc`**: model 0.7650 vs production 0.7730; "
        "model − production -0.0080 (95% CI -0.0110 to -0.0050)"
    ]
    assert [s.value.split("**")[1] for s in app.success] == ["Model beats production on `ece`"]
    assert any("should not replace it" in m.value for m in app.markdown)
    table = app.dataframe[0].value
    assert list(dict.fromkeys(table["Head"])) == [
        "website_visit",
        "visit_or_social",
        "any_engagement",
        "all",
    ]
    rows = table.set_index(["Head", "Scorer"])
    assert rows.loc[("website_visit", "Model"), "AUC [95% CI]"] == "0.7650 [0.7500, 0.7800]"
    assert rows.loc[("website_visit", "Model, 8-bit embeddings"), "AUC [95% CI]"] == (
        "0.7646 [0.7496, 0.7796]"
    )
    assert rows.loc[("website_visit", "Production pCTR"), "AUC [95% CI]"] == (
        "0.7730 [0.7580, 0.7880]"
    )
    assert rows.loc[("website_visit", "Model"), "Log loss"] == "0.2080"
    assert rows.loc[("website_visit", "Production pCTR"), "ECE"] == "0.0120"
    assert rows.loc[("website_visit", "Production pCTR"), "O/E"] == "0.930"
    assert rows.loc[("all", "Model"), "Positives"] == 700
    assert not app.metric and not app.info


def test_ads_page_switches_the_head_of_its_curves(snapshot):
    app = _run("views/ads.py")
    radio = app.radio(key="ads_head")
    assert radio.options == [
        "website_visit (website visit only)",
        "visit_or_social (visit or social action)",
        "any_engagement (any engagement)",
        "all (all ads, each by its own group's head)",
    ]
    assert "**Calibration: `website_visit`, 2024-03-02**" in [m.value for m in app.markdown]
    assert "5 bins of mean pCTR" in app.caption[1].value
    radio.set_value("any_engagement").run()
    assert not app.exception
    markdown = [m.value for m in app.markdown]
    assert "**Calibration: `any_engagement`, 2024-03-02**" in markdown
    assert "**`any_engagement` over days (2 days)**" in markdown
    # the fixture has no calibration curve for the pooled head: said, not drawn
    app.radio(key="ads_head").set_value("all").run()
    assert [i.value for i in app.info] == ["No calibration curve for this head in the snapshot."]


def test_jobs_page_shows_auc_and_top_k_qualified_rates_with_intervals(snapshot):
    app = _run("views/jobs.py")
    assert app.title[0].value == "Jobs"
    assert [s.value.split("**")[1] for s in app.success] == [
        "Model beats production on `apply_auc`"
    ]
    assert [i.value for i in app.info] == [
        "**No significant difference from production on `qualified_rate@10`**: model 0.0800 vs "
        "production 0.0770; model − production +0.0030 (95% CI -0.0010 to +0.0070)"
    ]
    assert not app.error
    heads = app.dataframe[0].value.set_index("Head")
    assert heads.loc["apply", "Model AUC [95% CI]"] == "0.8120 [0.8000, 0.8240]"
    assert heads.loc["apply", "Production AUC [95% CI]"] == "0.7810 [0.7680, 0.7940]"
    assert heads.loc["click", "Model log loss"] == "0.1500"
    metrics = {m.label: (m.value, m.delta) for m in app.metric}
    assert metrics["Qualified-application rate, top 1"] == (
        "9.00%",
        "vs production +1.00 points [+0.20, +1.80]",
    )
    assert metrics["Qualified-application rate, top 10"][1] == (
        "vs production +0.30 points [-0.10, +0.70]"
    )
    topk = app.dataframe[1].value.set_index("k")
    assert topk.loc[5, "Model [95% CI]"] == "8.50% [6.50%, 10.50%]"
    assert topk.loc[5, "Production [95% CI]"] == "7.90% [5.90%, 9.90%]"
    assert topk.loc[5, "Model − production [95% CI]"] == "+0.60 points [+0.10, +1.10]"
    assert topk.loc[1, "Sessions"] == 600


@pytest.mark.parametrize("page", ["ads", "jobs"])
def test_product_pages_without_an_evaluation_say_what_to_materialize(snapshot_without_truth, page):
    app = _run(f"views/{page}.py")
    assert [i.value for i in app.info] == [
        f"No {page.capitalize()} evaluation yet: materialize `{page}_evaluation` (part of "
        "`evaluation_job`), then `model_review`."
    ]
    assert not app.dataframe and not app.metric and not app.error


def test_replay_page_shows_each_ranker_with_interval(snapshot):
    replay = read_review_snapshot(snapshot)["replay_metrics"]
    latest = replay[replay["date"] == replay["date"].max()].set_index("ranker")
    app = _run("views/replay.py")
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


PAGES = [
    None,
    "views/model.py",
    "views/gate.py",
    "views/replay.py",
    "views/data_health.py",
    "views/ablation.py",
    "views/explore.py",
    "views/ads.py",
    "views/jobs.py",
]


@pytest.mark.parametrize("page", PAGES)
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
