"""Where a Spark driver listens: loopback for every master unless told otherwise, the UI can be
turned off, a wildcard bind needs an advertised address, and SPARK_LOCAL_IP is restored."""

from __future__ import annotations

import os

import pytest

from spark.session import (
    DEFAULT_CONF,
    driver_network_conf,
    is_wildcard,
    jvm_local_ip,
    session_conf,
)


@pytest.mark.parametrize("master", ["local[2]", "spark://127.0.0.1:7077", "yarn"])
def test_every_master_binds_the_driver_to_loopback_by_default(master):
    conf = session_conf(master)
    assert conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert conf["spark.driver.host"] == "127.0.0.1"
    assert conf["spark.ui.enabled"] == "true"
    assert conf["spark.sql.shuffle.partitions"] == DEFAULT_CONF["spark.sql.shuffle.partitions"]


def test_a_cluster_address_is_bound_and_advertised_and_the_ui_can_be_off():
    conf = session_conf("spark://10.0.0.1:7077", bind_address="10.0.0.5", ui=False)
    assert conf["spark.driver.bindAddress"] == conf["spark.driver.host"] == "10.0.0.5"
    assert conf["spark.ui.enabled"] == "false"


def test_user_conf_overrides_the_network_defaults():
    conf = session_conf("local[2]", {"spark.driver.host": "driver.example", "spark.ui.port": "0"})
    assert conf["spark.driver.host"] == "driver.example"
    assert conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert conf["spark.ui.port"] == "0"


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "[::]", "0:0::0"])
def test_a_wildcard_bind_needs_the_address_to_advertise(address):
    assert is_wildcard(address)
    with pytest.raises(ValueError, match="spark.driver.host"):
        driver_network_conf(address)
    conf = driver_network_conf(address, conf={"spark.driver.host": "10.0.0.5"})
    assert conf["spark.driver.bindAddress"] == address
    assert "spark.driver.host" not in conf  # the user's value, merged by session_conf, wins


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.5", "::1", "driver.example"])
def test_specific_addresses_are_not_wildcards(address):
    assert not is_wildcard(address)


@pytest.mark.parametrize("inherited", [None, "0.0.0.0"])
def test_spark_local_ip_is_the_ui_host_only_while_the_jvm_starts(monkeypatch, inherited):
    if inherited is None:
        monkeypatch.delenv("SPARK_LOCAL_IP", raising=False)
    else:
        monkeypatch.setenv("SPARK_LOCAL_IP", inherited)
    with jvm_local_ip("127.0.0.1"):
        assert os.environ["SPARK_LOCAL_IP"] == "127.0.0.1"
    assert os.environ.get("SPARK_LOCAL_IP") == inherited
