"""The streaming launch path without Dagster: the tee keeps the exit status, the output's tail and
the divergence lines while passing the output through, and `launch_training` turns an outcome
into the result or the right error (divergence, failure with the tail, no result)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from models.training.config import TrainingPlan
from models.training.launch import tee, training_command
from models.training.loop import DIVERGED_MESSAGE, TrainingDivergedError
from models.training.progress import RESULT_MESSAGE


def test_the_tee_passes_output_through_and_keeps_status_tail_and_marked_lines(tmp_path, capfd):
    script = "import sys; print('step 1'); print('rank 1: boom', file=sys.stderr); sys.exit(3)"
    outcome = tmp_path / "outcome.json"
    assert tee([sys.executable, "-c", script], outcome, keep="boom") == 3
    written = json.loads(outcome.read_text())
    assert written == {
        "returncode": 3,
        "tail": ["step 1", "rank 1: boom"],
        "kept": ["rank 1: boom"],
    }
    assert "step 1" in capfd.readouterr().out  # streamed, not only recorded


def test_training_commands(tmp_path):
    examples = (str(tmp_path),)
    one = TrainingPlan(model_id="m", out_dir=tmp_path / "m", examples=examples)
    assert training_command(one, Path("p.json"))[1:] == ["-m", "models.training.cli", "p.json"]
    hvd = TrainingPlan(model_id="m", out_dir="m", examples=examples, horovod_hosts="a:2,b:2")
    command = training_command(hvd, Path("p.json"))
    assert command[1:6] == ["-np", "4", "-H", "a:2,b:2", "--gloo"]
    assert command[-4:] == ["-m", "models.training.cli", "p.json", "--horovod"]


def _launch(tmp_path, outcome: dict, messages=()):
    from models.training.launch import launch_training

    examples = tmp_path / "examples.parquet"
    examples.write_bytes(b"")
    plan = TrainingPlan(
        model_id="feed-x", out_dir=tmp_path / "m", examples=(examples,),
        examples_format="parquet", previous_model=str(tmp_path / "prev"),
    )  # fmt: skip

    def run(command):  # what the tee would have written, without running anything
        Path(command[command.index("--outcome") + 1]).write_text(json.dumps(outcome))
        assert command[command.index("--keep") + 1] == DIVERGED_MESSAGE
        return list(messages)

    return launch_training(plan, run)


def test_exit_code_2_or_a_rank_line_is_a_divergence(tmp_path):
    with pytest.raises(TrainingDivergedError, match="previous model .*prev is untouched"):
        _launch(tmp_path, {"returncode": 2, "tail": [], "kept": []})
    line = f"[1]<stderr>:feed-x: {DIVERGED_MESSAGE} 7 of 20 (epoch 1): loss=nan is not finite"
    with pytest.raises(TrainingDivergedError, match=r"\[1\]<stderr>:feed-x: training diverged"):
        _launch(tmp_path, {"returncode": 1, "tail": ["x"], "kept": [line]})


def test_other_failures_name_the_exit_code_and_quote_the_tail(tmp_path):
    tail = ["Traceback (most recent call last):", "MemoryError: out of memory"]
    with pytest.raises(RuntimeError, match=r"(?s)exit code 1 .*\n.*MemoryError: out of memory"):
        _launch(tmp_path, {"returncode": 1, "tail": tail, "kept": []})
    with pytest.raises(RuntimeError, match="reported no result"):
        _launch(tmp_path, {"returncode": 0, "tail": [], "kept": []})


def test_the_result_comes_from_rank_0s_message(tmp_path):
    from models.training.config import TrainingResult

    result = TrainingResult(
        model_id="feed-x", mode="incremental", base_model_id="prev", train_days=1, train_rows=10,
        steps=3, epoch_losses=(1.0, 0.5), train_seconds=1.0, examples_per_second=10.0,
        engine="in-process", ranks=1, path="m", saved_model=None, model_config={},
        out_of_vocabulary={},
    )  # fmt: skip
    messages = [{"kind": "epoch", "epoch": 1}, {"kind": RESULT_MESSAGE, "result": result.to_json()}]
    got = _launch(tmp_path, {"returncode": 0, "tail": [], "kept": []}, messages)
    assert got == result
