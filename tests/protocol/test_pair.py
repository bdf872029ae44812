"""ClientSession against ServerSession through the real wire encoding (h11's ConnectionPair idea).

Covers the upgrade, which the polling-only pair test in test_client_session.py does not:
every message in both directions arrives once, in order, across the switch to websocket.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trio_engineio.protocol import (
    ClientSession,
    MessageReceived,
    Packet,
    PacketType,
    ProbeAnswered,
    ServerSession,
    UpgradeCompleted,
    decode_frame,
    decode_payload,
    encode_frame,
    encode_payload,
)

# Text with "\x1e" cannot travel in a polling payload (see the xfail in test_server_session.py).
texts = st.text(st.characters(codec="utf-8", exclude_characters="\x1e"), max_size=4)
messages = st.lists(texts | st.binary(max_size=4), max_size=3)


def data_of(events: list[object]) -> list[str | bytes]:
    return [e.data for e in events if isinstance(e, MessageReceived)]


@given(s_before=messages, s_during=messages, s_after=messages, c_before=messages, c_during=messages)
def test_pair_upgrade_loses_and_reorders_nothing_in_either_direction(
    s_before: list[str | bytes],
    s_during: list[str | bytes],
    s_after: list[str | bytes],
    c_before: list[str | bytes],
    c_during: list[str | bytes],
) -> None:
    now = 0.0
    server = ServerSession("sid1", transport="polling", now=now)
    client = ClientSession()
    client.receive_handshake_payload(
        encode_payload([Packet(PacketType.OPEN, server.handshake.encode())]), now=now
    )
    at_client: list[object] = []
    at_server: list[object] = []

    def post() -> None:
        batch = client.next_post_batch()
        if batch:
            server.begin_post()
            at_server.extend(server.receive_packets(decode_payload(encode_payload(batch)), now))
            server.end_post()
            client.post_done()

    # Polling: messages both ways, and a GET left pending.
    for data in s_before:
        server.send_message(data)
    for data in c_before:
        client.send_message(data)
    post()
    client.begin_get()
    server.begin_get()
    if server.poll_ready():
        at_client += client.receive_payload(encode_payload(server.take_poll_payload()), now)
        server.end_get()
        client.end_get()
        client.begin_get()
        server.begin_get()
    assert not server.poll_ready()

    # Probe on the new websocket; messages keep being sent on both sides.
    server.start_upgrade(now)
    probe_answer = server.receive_upgrade_packet(decode_frame(encode_frame(client.start_upgrade(now))), now)
    assert isinstance(probe_answer, ProbeAnswered)
    for data in s_during:
        server.send_message(data)
    for data in c_during:
        client.send_message(data)
    assert isinstance(client.receive_probe_frame(encode_frame(probe_answer.reply), now), ProbeAnswered)
    assert server.poll_ready()  # the pending GET is released with a NOOP
    assert server.take_poll_payload() == [Packet(PacketType.NOOP)]
    at_client += client.receive_payload(encode_payload([Packet(PacketType.NOOP)]), now)
    server.end_get()
    client.end_get()
    assert client.polling_paused

    # Switch: the client's first websocket frame is `5`, then everything it has queued.
    assert client.finish_upgrade() == UpgradeCompleted()
    frames = [encode_frame(p) for p in client.take_websocket_packets()]
    assert frames[0] == "5"
    assert server.receive_upgrade_packet(decode_frame(frames[0]), now) == UpgradeCompleted()
    for frame in frames[1:]:
        event = server.receive_packet(decode_frame(frame), now)
        if event is not None:
            at_server.append(event)
    for data in s_after:
        server.send_message(data)
    for packet in server.take_outgoing():
        at_client += client.receive_frame(encode_frame(packet), now)

    assert data_of(at_client) == s_before + s_during + s_after
    assert data_of(at_server) == c_before + c_during
    assert server.transport == client.transport == "websocket"
    assert not server.closed
    assert not client.closed
