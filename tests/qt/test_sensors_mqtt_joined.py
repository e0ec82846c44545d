"""A real plant's path end to end: a device publishes JSON to a real Mosquitto broker, the
server's MQTT source (configured by a mapping file) feeds its hub, and two people's windows
show the part coloured and labelled, the alarm raised, acknowledged by one person with the
mouse and shown acknowledged to the other; the broker going away shows as offline."""

from __future__ import annotations

import numpy as np
import pytest

from tests.netutil import ServerProcess
from tests.plant import small_plant
from tests.qt.person import click, click_item, type_text
from tests.qt.test_sensors_joined import TIMEOUT, bind_through_ui, color_of, reading
from tests.sensors.kit import Broker, Publisher
from twin_app.core import roomfile
from twin_app.core.sensors import STALE_COLOR, colormap_table
from twin_app.qt.alarms import COL_ACK

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]

TOPIC = "plant/line/r1/temp"


@pytest.fixture
def mqtt_server(tmp_path):
    broker = Broker(tmp_path).start()
    mapping = tmp_path / "line.toml"
    mapping.write_text(
        '[[source]]\nname = "line-broker"\ntype = "mqtt"\n'
        f'url = "{broker.url}"\ntopics = ["plant/#"]\nformat = "json"\n\n'
        f'[[map]]\nfrom = "{TOPIC}"\ntag = "line/r1/temp"\nunit = "°C"\n')
    doc, blobs = small_plant()
    seed = tmp_path / "plant.twinroom"
    roomfile.write(seed, doc, blobs, "plant")
    srv = ServerProcess(tmp_path / "mqtt-server", extra=["--seed", f"plant={seed}", "--sensors", str(mapping)]).start()
    pub = Publisher(broker)
    yield broker, srv, pub
    pub.close()
    srv.stop()
    broker.stop()


def test_mqtt_values_colour_the_part_and_an_alarm_is_acknowledged_across_windows(join, qtbot, mqtt_server):
    broker, srv, pub = mqtt_server
    _ada, a = join("Ada", endpoint=srv.endpoint)
    _bo, b = join("Bo", "designer-token", (0.2, 0.6, 0.9), endpoint=srv.endpoint)
    pub.publish(TOPIC, '{"value": 20.0}')
    qtbot.waitUntil(lambda: "line/r1/temp" in a.client.sensors.by_tag, timeout=TIMEOUT)
    sid = bind_through_ui(qtbot, a, "r1", "Robot 1 temperature",
                          {"range_min": "0", "range_max": "100", "warn_high": "60", "alarm_high": "90"})

    def shows(w, v: float) -> bool:
        pub.publish(TOPIC, f'{{"value": {v}}}')  # a device publishes every few hundred ms
        qtbot.wait(50)
        return reading(w, sid) == f"{v:.1f} °C"

    for w in (a, b):
        qtbot.waitUntil(lambda w=w: shows(w, 40.0), timeout=TIMEOUT)
        expect = colormap_table("turbo")[int(0.4 * 255)]
        assert np.allclose(color_of(w, "r1"), expect, atol=0.02)

    pub.publish(TOPIC, '{"value": 95.5}')
    for w in (a, b):
        qtbot.waitUntil(lambda w=w: w.sensor_ui.alarms.tree.topLevelItemCount() == 1, timeout=TIMEOUT)
        qtbot.waitUntil(lambda w=w: w.sensor_ui.badge.isVisible(), timeout=TIMEOUT)
    tree = a.sensor_ui.alarms.tree
    click_item(tree, tree.indexFromItem(tree.topLevelItem(0)))
    assert a.selection == ["r1"]
    type_text(a.sensor_ui.alarms.comment, "checking the cooling fan", enter=False)
    click(a.sensor_ui.alarms.ack_btn)
    for w in (a, b):
        qtbot.waitUntil(lambda w=w: (it := w.sensor_ui.alarms.tree.topLevelItem(0)) is not None
                        and it.text(COL_ACK).startswith("Ada ")
                        and it.text(COL_ACK).endswith(": checking the cooling fan"), timeout=TIMEOUT)
        qtbot.waitUntil(lambda w=w: not w.sensor_ui.badge.isVisible(), timeout=TIMEOUT)

    # The broker goes away: the source is offline and the part says so, not 95.5 °C.
    broker.kill()
    for w in (a, b):
        qtbot.waitUntil(lambda w=w: reading(w, sid) == "offline", timeout=30_000)
        qtbot.waitUntil(lambda w=w: "source offline: line-broker" in w.sensor_ui.sensors.status.text(),
                        timeout=TIMEOUT)
    assert np.allclose(color_of(b, "r1"), STALE_COLOR, atol=0.01)  # (Ada's is tinted: she selected it)
    assert srv.alive()
