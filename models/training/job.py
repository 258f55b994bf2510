"""One day's ranking work: train the feed model (cold or incremental, in-process or under
Horovod) and fit the popularity random effects on its residual.

Both engines run the same entry point, `models.training.cli`: in-process it is called as a function;
with Horovod hosts it runs as `horovodrun -np N -H hosts --gloo python -m models.training.cli
--horovod`, every rank averaging its gradients with `hvd.allreduce`.

The trainer reads the examples in `RankingJobConfig.examples_format`: by default the Avro shards
of `training_examples` through tensorflow-io's `ATDSDataset` (paper §13), so the example paths it
is given are Avro shard directories; "parquet" reads the Parquet partitions with pandas. Both give
the model the same arrays for the same rows, in file order: the shards' order is the Parquet's when
a day is one Parquet file and one shard (the demo world), otherwise the same rows may come in
another order and shuffle into other batches. The random effects read the day's Parquet rows
(they need the rows as a DataFrame: post ids beside the model's predictions).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from models.training import cli as train_cli
from models.feed_model import FeedModelConfig, feed_inputs, predict_probabilities
from models.random_effects import fit_random_effects
from models.registry import load_model
from models.training.loop import TrainingDivergedError
from spark.storage import write_partition

# The paper's RO model uses the like and click labels, which have the best coverage (§8).
RANDOM_EFFECT_HEADS: tuple[str, ...] = ("click", "like")
# The graph's cold-start architecture (its dense constants come from the data at training time):
# the library defaults (30-dim hashed IDs, target-attention history, affinity counts, 4 × 100
# click and contribution towers) with 2 low-rank DCNv2 cross layers (r = 32) in front of the
# towers and Murmur-hashed string IDs (so the served SavedModel takes "member:1234"). Chosen by
# measurement on the default simulated world (`bench/ablation.py`, 8 seeds): low-rank DCNv2 raised
# the ground-truth expected contributions of the top pick by +0.9% over the DLRM dot interaction
# (about 2 standard errors) for ~10% more training time; isotonic calibration, dense gating,
# task grouping, Residual DCN and QR ids were within noise, the history Transformer was worse
# (-4.8%). Every block stays selectable per cold start (`FeedModelChoice` on the asset).
GRAPH_FEED_MODEL = FeedModelConfig(interaction="cross", id_hash="murmur")
# FeedModelConfig fields that are data, not architecture: never passed as a cold-start choice
_DATA_FIELDS = ("dense_mean", "dense_variance")


def architecture_json(config: FeedModelConfig) -> str:
    """`config` as the `--model-config` JSON of a cold start (its dense constants left out)."""
    values = {k: v for k, v in config.to_dict().items() if k not in _DATA_FIELDS}
    return json.dumps(values, sort_keys=True)


@dataclasses.dataclass(frozen=True)
class RankingJobConfig:
    """How a day's model is trained.

    Args:
        cold_start_epochs: epochs over the cold-start window.
        incremental_epochs: epochs over the new day when warm-starting (paper §5: 1 day per step).
        batch_size: examples per rank per step.
        learning_rate: peak learning rate after warm-up.
        horovod_hosts: `host:slots[,host:slots]`; None trains in this process.
        horovod_num_proc: total Horovod ranks (defaults to the sum of the host slots).
        random_effect_l2: Gaussian prior precision of the per-post effects.
        model: the cold start's architecture (`FeedModelConfig`; its dense constants are
            ignored and recomputed from the training examples). Incremental days keep the
            previous model's config whatever this says.
        export_saved_model: also write the serving SavedModel (`models.serving.saved_model`) beside the
            Keras model, as `saved_model/`.
        examples_format: what the training example paths hold, one of
            `train_cli.EXAMPLES_FORMATS`: "avro" (shard directories `part-*.avro`, read by ATDS)
            or "parquet" (Parquet partitions, read by pandas).
        seed: seeds the weight initialization and the shuffles.
    """

    cold_start_epochs: int = 3
    incremental_epochs: int = 2
    batch_size: int = 512
    learning_rate: float = 3e-3
    horovod_hosts: str | None = None
    horovod_num_proc: int = 0
    random_effect_l2: float = 1.0
    model: FeedModelConfig = GRAPH_FEED_MODEL
    export_saved_model: bool = True
    examples_format: str = "avro"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("cold_start_epochs", "incremental_epochs", "batch_size"):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"`{name}` must be positive. Received: {name}={getattr(self, name)}"
                )
        if self.examples_format not in train_cli.EXAMPLES_FORMATS:
            raise ValueError(
                f"`examples_format` must be one of {train_cli.EXAMPLES_FORMATS}. Received: "
                f"examples_format={self.examples_format!r}"
            )

    @property
    def num_proc(self) -> int:
        if self.horovod_num_proc > 0:
            return self.horovod_num_proc
        return sum(
            int(h.rsplit(":", 1)[1]) if ":" in h else 1 for h in self.horovod_hosts.split(",")
        )


@dataclasses.dataclass(frozen=True)
class RankingJobResult:
    model_id: str
    mode: str  # "cold" | "incremental"
    base_model_id: str | None
    train_days: int
    train_rows: int
    final_loss: float
    train_seconds: float
    examples_per_second: float
    engine: str
    path: Path
    model_config: dict = dataclasses.field(default_factory=dict)

    @property
    def saved_model(self) -> Path | None:
        """The serving SavedModel directory, when one was exported."""
        path = Path(self.path) / train_cli.SAVED_MODEL_DIR
        return path if path.is_dir() else None

    def manifest_row(self, date: dt.date) -> pd.DataFrame:
        """The model's row in the warehouse `models` table."""
        return pd.DataFrame(
            [
                {
                    "date": date,
                    "model_id": self.model_id,
                    "mode": self.mode,
                    "base_model_id": self.base_model_id,
                    "train_days": self.train_days,
                    "train_rows": self.train_rows,
                    "final_loss": self.final_loss,
                    "train_seconds": self.train_seconds,
                    "engine": self.engine,
                    "path": str(self.path),
                }
            ]
        ).astype({"base_model_id": "string"})


def model_id_of(model_dir: Path) -> str:
    """`.../date=2026-01-03` → `feed-2026-01-03`."""
    return "feed-" + Path(model_dir).name.removeprefix("date=")


def _require(paths: list[Path], examples_format: str = "parquet") -> None:
    """Raise FileNotFoundError naming every missing examples partition (Parquet directory, or
    Avro shard directory without `part-*.avro` files) and saying to materialize the days."""
    if examples_format == "avro":
        missing = [p for p in paths if not any(Path(p).glob("part-*.avro"))]
        if missing:
            raise FileNotFoundError(
                f"missing Avro training shards (part-*.avro) in {[str(p) for p in missing]}; "
                "the trainer reads the Avro shards of `training_examples` through ATDS. "
                "Re-materialize `training_examples` for those days (it writes the Parquet "
                "partition and its Avro shards), or set examples_format='parquet'"
            )
        return
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(
            f"missing training_examples partitions {[str(p) for p in missing]}; "
            "materialize `training_examples` for those days first"
        )


def train_ranking_model(
    config: RankingJobConfig,
    cold_start_examples: list[Path],
    day_examples: Path,
    previous_model: Path | None,
    out_dir: Path,
    model_id: str,
) -> RankingJobResult:
    """Train and save the day's model into `out_dir` (atomically; nothing is written on failure).

    Incremental when `previous_model` exists (warm start from it, train on `day_examples` only,
    paper §5); otherwise a cold start over `cold_start_examples`. The example paths are one
    directory per day in `config.examples_format`: Avro shard directories
    (`features/training_examples_avro/date=D`) for "avro", Parquet partitions for "parquet".

    Raises:
        FileNotFoundError: an examples partition is missing (names it).
        TrainingDivergedError: the loss became NaN/inf; the previous model is untouched.
    """
    incremental = previous_model is not None
    examples = [day_examples] if incremental else list(cold_start_examples)
    _require(examples, config.examples_format)
    argv = [arg for path in examples for arg in ("--examples", str(path))]
    argv += [
        "--examples-format", config.examples_format,
        "--out", str(out_dir),
        "--epochs", str(config.incremental_epochs if incremental else config.cold_start_epochs),
        "--batch-size", str(config.batch_size),
        "--learning-rate", str(config.learning_rate),
        "--seed", str(config.seed),
    ]  # fmt: skip
    if incremental:
        argv += ["--init-from", str(previous_model)]
    else:
        argv += ["--model-config", architecture_json(config.model)]
    if config.export_saved_model:
        argv += ["--saved-model"]
    if config.horovod_hosts:
        engine = f"horovod ({config.num_proc} ranks on {config.horovod_hosts})"
        horovodrun = shutil.which("horovodrun") or str(Path(sys.executable).parent / "horovodrun")
        command = [
            horovodrun, "-np", str(config.num_proc), "-H", config.horovod_hosts, "--gloo",
            sys.executable, "-m", "models.training.cli", *argv, "--horovod",
        ]  # fmt: skip
        proc = subprocess.run(command, capture_output=True, text=True)
        code, detail = proc.returncode, proc.stderr[-4000:]
    else:
        engine = "in-process"
        with contextlib.redirect_stdout(io.StringIO()):
            code, detail = train_cli.main(argv), ""
    if code == train_cli.DIVERGED_EXIT_CODE:
        raise TrainingDivergedError(
            f"training of {model_id} diverged (see the loss in the log above); nothing was "
            f"written and the previous model {previous_model} is untouched. Lower the learning "
            f"rate or lengthen the warm-up and re-run. {detail}"
        )
    if code != 0:
        raise RuntimeError(f"training of {model_id} failed with exit code {code}: {detail}")
    summary = json.loads((Path(out_dir) / "training_result.json").read_text())
    manifest = json.loads((Path(out_dir) / "manifest.json").read_text())
    return RankingJobResult(
        model_id=model_id,
        mode="incremental" if incremental else "cold",
        base_model_id=model_id_of(previous_model) if incremental else None,
        train_days=len(examples),
        train_rows=int(summary["examples"]),
        final_loss=float(summary["epoch_losses"][-1]),
        train_seconds=float(summary["seconds"]),
        examples_per_second=float(summary["examples_per_second"]),
        engine=engine,
        path=Path(out_dir),
        model_config=manifest["metadata"]["model_config"],
    )


def logits_from(probabilities: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def fit_popularity_effects(
    model_dir: Path, examples_dir: Path, out_root: Path, date: dt.date, l2: float = 1.0
) -> dict:
    """Fit per-post random effects on the residual of the day's global model (paper §8).

    For each head in `RANDOM_EFFECT_HEADS`, b_post maximizes the Bernoulli likelihood of the
    training impressions with the global logit as a fixed offset, under a N(0, 1/l2) prior:
    y_final = σ(logit(y_global) + b_post). Written as the `date` partition of `out_root`.
    """
    _require([examples_dir])
    model, _ = load_model(model_dir)
    examples = pd.read_parquet(examples_dir)
    train = examples[examples["split"] == "train"].reset_index(drop=True)
    probabilities = predict_probabilities(model, feed_inputs(train, model.config))
    frames = []
    for head in RANDOM_EFFECT_HEADS:
        effects = fit_random_effects(
            train["post_id"].to_numpy(),
            logits_from(probabilities[head]),
            train[head].to_numpy(),
            l2=l2,
        )
        frames.append(effects.rename(columns={"id": "post_id"}).assign(head=head))
    table = pd.concat(frames, ignore_index=True)
    table["post_id"] = table["post_id"].astype("int64")
    path = write_partition(
        pa.Table.from_pandas(table, preserve_index=False), out_root.parent, out_root.name, date
    )
    spread = table.groupby("head")["effect"].agg(["std", "min", "max", "count"]).reset_index()
    return {
        "posts": int(table["post_id"].nunique()),
        "heads": list(RANDOM_EFFECT_HEADS),
        "effect_sd_md": spread.round(4).to_markdown(index=False),
        "path": path,
    }
