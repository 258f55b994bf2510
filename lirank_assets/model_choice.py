"""`FeedModelChoice`: the cold-start architecture of `feed_ranking_model` as Dagster run config.

Generated from `FeedModelConfig`'s own fields (every field but those a training run learns from
the data, `LEARNED_FROM_DATA`), with `GRAPH_FEED_MODEL`'s values as defaults, so the model config
is declared once and every new field shows up in the Launchpad by itself. Tuples become lists
(`tower_units`) and the (head, weight) pairs of `score_weights` a mapping.
"""

from __future__ import annotations

import dataclasses
import typing

import pydantic
from dagster import Config

from models.feed import GRAPH_FEED_MODEL, LEARNED_FROM_DATA, FeedModelConfig


class _FeedModelChoiceBase(Config):
    def to_feed_model_config(self) -> FeedModelConfig:
        """`GRAPH_FEED_MODEL` with these choices; raises ValueError naming a bad one."""
        values = {}
        for name, value in self.model_dump().items():
            if isinstance(value, dict):
                value = tuple(value.items())
            elif isinstance(value, list):
                value = tuple(value)
            values[name] = value
        return dataclasses.replace(GRAPH_FEED_MODEL, **values)


def _run_config_field(annotation, default) -> tuple[typing.Any, typing.Any]:
    """(type, default) of one config field in Dagster's config types."""
    if typing.get_origin(annotation) is tuple:
        item, *rest = typing.get_args(annotation)
        if rest == [Ellipsis] and typing.get_origin(item) is tuple:  # ((key, value), ...)
            key, value = typing.get_args(item)
            return dict[key, value], dict(default)
        if rest == [Ellipsis]:
            return list[item], list(default)
    return annotation, default


def _choice_fields() -> dict[str, tuple[typing.Any, typing.Any]]:
    hints = typing.get_type_hints(FeedModelConfig)
    return {
        field.name: _run_config_field(hints[field.name], getattr(GRAPH_FEED_MODEL, field.name))
        for field in dataclasses.fields(FeedModelConfig)
        if field.name not in LEARNED_FROM_DATA
    }


FeedModelChoice = pydantic.create_model(
    "FeedModelChoice",
    __base__=_FeedModelChoiceBase,
    __doc__="The cold-start feed model's architecture (`FeedModelConfig` fields; registries of "
    "the block choices in `models.feed`). Used by a cold start only: an incremental day keeps "
    "the previous day's model config. Defaults: `GRAPH_FEED_MODEL`.",
    **_choice_fields(),
)
