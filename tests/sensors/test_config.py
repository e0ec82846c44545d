"""The sensor mapping file: sources, tag mapping, and clear errors for broken files."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from sync_server.sensors.config import ConfigError, load, load_sources, parse
from sync_server.sensors.mqtt import MqttSource
from sync_server.sensors.tags import MappedSink, MappedSource
from tests.sensors.kit import Publisher, RecordingSink
from twin_app.core.sensors import GOOD

GOOD_FILE = """\
# Plant line 1
passthrough = false

[[source]]
name = "plant-broker"
type = "mqtt"
url = "mqtt://127.0.0.1:{port}"
topics = ["plant/#"]
share = "twinroom"

[[source]]
name = "edge"
type = "mqtt"
format = "sparkplug"
url = "mqtt://127.0.0.1:{port}"
passthrough = true

[[map]]
source = "plant-broker"
from = "plant/line1/press/temp"
tag = "line1/press/temp"
unit = "°C"

[[map]]
from = "plant/line1/press/force"
tag = "line1/press/force"
scale = 0.001
unit = "kN"
"""


def write(tmp_path, text: str, port: int = 1883):
    p = tmp_path / "mapping.toml"
    p.write_text(textwrap.dedent(text).replace("{port}", str(port)), encoding="utf-8")
    return p


def test_parse_a_good_file(tmp_path):
    cfg = load(write(tmp_path, GOOD_FILE))
    assert [(s.name, s.type, s.passthrough) for s in cfg.sources] == \
        [("plant-broker", "mqtt", False), ("edge", "mqtt", True)]
    tags = cfg.tag_map("plant-broker")
    assert not tags.passthrough
    assert tags.resolve("plant/line1/press/temp").tag == "line1/press/temp"
    assert tags.resolve("plant/line1/press/force").scale == 0.001  # a rule for every source
    assert tags.resolve("plant/other") is None
    assert cfg.tag_map("edge").resolve("G/N/x").tag == "G/N/x"
    assert cfg.tag_map("edge").resolve("plant/line1/press/temp").tag == "plant/line1/press/temp"
    sources = load_sources(tmp_path / "mapping.toml")
    assert [type(s) for s in sources] == [MappedSource, MappedSource]
    first = sources[0].source
    assert isinstance(first, MqttSource) and first.share == "twinroom" and first.topics == ["plant/#"]
    assert sources[1].source.format == "sparkplug" and sources[1].source.topics == ["spBv1.0/#"]


@pytest.mark.parametrize(("text", "line", "words"), [
    ('[[source]]\nname = "a"\ntype = "mqtt"\nurl = "mqtt://x"\ntopics = [\n', 5, "not valid TOML"),
    ('[[source]]\nname = "a"\ntype = "mqt"\n', 3, "did you mean 'mqtt'"),
    ('[[source]]\ntype = "mqtt"\n', 1, "'name' is required"),
    ('[[source]]\nname = "a"\ntype = "mqtt"\nurl = "mqtt://x"\ntopics = ["t"]\n\n'
     '[[source]]\nname = "a"\ntype = "mqtt"\n', 8, "used by another source"),
    ('[[source]]\nname = "a"\ntype = "mqtt"\nurl = "mqtt://x"\ntopcs = ["t"]\n', 5,
     "unknown setting 'topcs' (did you mean 'topics'?)"),
    ('[[source]]\nname = "a"\ntype = "mqtt"\nurl = "mqtt://x"\n', 1, "'topics' is required"),
    ('[[source]]\nname = "a"\ntype = "mqtt"\nurl = "http://x"\ntopics = ["t"]\n', 4, "mqtt://"),
    ('[[source]]\nname = "a"\ntype = "mqtt"\nurl = "mqtt://x:port"\ntopics = ["t"]\n', 4, "bad port"),
    ('[[source]]\nname = "a"\ntype = "opcua"\nurl = "opc.tcp://x:4840"\nnodes = ["ns=2;q=oops"]\n', 5,
     "not an OPC UA node id"),
    ('[[source]]\nname = "a"\ntype = "mqtt"\nurl = "mqtt://x"\ntopics = ["t"]\nqos = 3\n', 6,
     "between 0 and 2"),
    ('[[source]]\nname = "a"\ntype = "mqtt"\nurl = "mqtt://x"\ntopics = ["t"]\n'
     'password_env = "TWIN_NO_SUCH_VARIABLE"\n', 6, "TWIN_NO_SUCH_VARIABLE is not set"),
    ('[[source]]\nname = "a"\ntype = "mqtt"\nurl = "mqtt://x"\ntopics = ["t"]\n\n'
     '[[map]]\nfrom = "t"\n', 7, "'tag' is required"),
    ('[[source]]\nname = "a"\ntype = "mqtt"\nurl = "mqtt://x"\ntopics = ["t"]\n\n'
     '[[map]]\nsource = "b"\nfrom = "t"\ntag = "x"\n', 8, "no [[source]] has that name"),
    ('[[source]]\nname = "a"\ntype = "mqtt"\nurl = "mqtt://x"\ntopics = ["t"]\n\n'
     '[[map]]\nfrom = "t"\ntag = "x"\nscale = "ten"\n', 10, "'scale' must be a number"),
    ('[[source]]\nname = "a"\ntype = "mqtt"\nurl = "mqtt://x"\ntopics = ["t"]\n\n'
     '[[map]]\nfrom = "t"\ntag = "x"\n\n[[map]]\nfrom = "t"\ntag = "y"\n', 12, "mapped twice"),
    ('passthru = true\n', 1, "did you mean 'passthrough'"),
    ('[[source]]\nname = "a"\ntype = "mqtt"\nformat = "sparkplug"\nurl = "mqtt://x"\nshare = "g"\n', 6,
     "cannot be shared"),
    ('passthrough = true\n', None, "no [[source]] entries"),
    ('[[source]]\nname = "r"\ntype = "csv"\npath = "missing.csv"\n', 4, "no file"),
])
def test_broken_files_say_where_and_what(tmp_path, text, line, words):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_sources(p)
    assert err.value.line == line, str(err.value)
    assert words in str(err.value)
    assert str(p) in str(err.value)


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "nope.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "bin.toml")


def test_simulator_entry_is_built_or_refused_in_words(tmp_path):
    p = write(tmp_path, '[[source]]\nname = "sim"\ntype = "simulator"\n')
    try:
        sources = load_sources(p)
    except ConfigError as exc:
        assert "simulator" in str(exc) and exc.line is not None
    else:
        assert [s.name for s in sources] == ["sim"]


def test_mapped_sink_merges_scales_and_keeps_units():
    cfg = parse(textwrap.dedent("""\
        [[source]]
        name = "a"
        type = "mqtt"
        url = "mqtt://x"
        topics = ["t"]

        [[map]]
        from = "raw/a"
        tag = "both"
        scale = 2.0
        offset = 1.0

        [[map]]
        from = "raw/b"
        tag = "both"
        unit = "bar"
        """))
    sink = RecordingSink()
    mapped = MappedSink(sink, cfg.tag_map("a"))
    mapped.push(["raw/a", "raw/b", "raw/c"], np.array([0, 1, 2, 0], np.uint32),
                np.array([1, 2, 3, 4], np.int64), np.array([1.0, 2.0, 3.0, 4.0]),
                np.zeros(4, np.uint8), ["", "psi", "V"])
    assert sink.samples == [("both", 1, 3.0, GOOD), ("both", 2, 2.0, GOOD), ("raw/c", 3, 3.0, GOOD),
                            ("both", 4, 9.0, GOOD)]
    assert sink.units == {"both": "bar", "raw/c": "V"}


@pytest.mark.net
def test_sources_from_a_file_deliver_mapped_tags(tmp_path, broker, sink: RecordingSink):
    [plant, _edge] = load_sources(write(tmp_path, GOOD_FILE, broker.port))
    plant.start(sink)
    sink.wait(lambda s: s.online("plant-broker") is True)
    pub = Publisher(broker)
    try:
        pub.publish("plant/line1/press/force", json.dumps({"value": 12000, "ts": 1_764_670_000_000}))
        pub.publish("plant/line1/unmapped", "1")
        pub.publish("plant/line1/press/temp", json.dumps({"value": 50, "ts": 1_764_670_000_000}))
        sink.wait(lambda s: len(s.samples) >= 2)
    finally:
        pub.close()
        plant.stop()
    assert sorted(sink.samples) == [("line1/press/force", 1_764_670_000_000_000_000, 12.0, GOOD),
                                    ("line1/press/temp", 1_764_670_000_000_000_000, 50.0, GOOD)]
    assert sink.units == {"line1/press/force": "kN", "line1/press/temp": "°C"}


def test_the_documented_example_is_a_valid_file(tmp_path, monkeypatch):
    """docs/sensors.md's example parses, and builds once its files exist."""
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    doc = (Path(__file__).parents[2] / "docs" / "sensors.md").read_text(encoding="utf-8")
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    cfg = parse(example)
    assert [s.name for s in cfg.sources] == ["plant-broker", "edge", "press-plc", "last-week"]
    assert cfg.tag_map("press-plc").resolve("ns=2;s=Press.Force").scale == 0.001
    (tmp_path / "line1.toml").write_text(example, encoding="utf-8")
    (tmp_path / "plant-ca.pem").write_text("")
    (tmp_path / "recordings").mkdir()
    pq.write_table(pa.table({"time": [1.0, 2.0], "x": [1.0, 2.0]}), tmp_path / "recordings" / "line1-week48.parquet")
    monkeypatch.setenv("PLANT_MQTT_PASSWORD", "secret")
    sources = load_sources(tmp_path / "line1.toml")
    assert [s.name for s in sources] == ["plant-broker", "edge", "press-plc", "last-week"]
    assert sources[1].source.password == "secret"
