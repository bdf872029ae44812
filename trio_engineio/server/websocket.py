"""The websocket transport over ASGI: websocket-only sessions and upgrades.

The request task lends its socket to the session. It writes what the core
queues. Frames are read by the task that wants them: a task waiting in
``Session.receive()`` pulls the next frame itself (no hand-off between a
reader task and the handler), and when no task has pulled for a moment the
request task reads as a backstop, so PONGs, the client's CLOSE and messages for
a busy handler are still taken in. Everything stops when the session closes or
the socket goes away, and the socket is always closed explicitly.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from ..protocol.errors import ParseError, RemoteProtocolError, TransportTaken
from ..protocol.events import Event, MessageReceived, ProbeAnswered, UpgradeAborted, UpgradeCompleted
from ..protocol.packets import Packet, PacketType, decode_frame, encode_frame, encode_message_frame
from ..protocol.query import EngineQuery, ErrorCode, RequestRejected
from ..protocol.reasons import CloseReason
from .http import ASGIReceive, ASGISend, Headers
from .hypercorn_adapter import SEND_RACE, accept_websocket, close_websocket, request_channel, sends_shielded
from .polling import cookie_header, unauthorized_body
from .session import PULL_HANDOVER_DELAY
from .socket_lease import SocketLease

if TYPE_CHECKING:
    from .host import SessionHost
    from .server import Server
    from .session import Session


__all__ = ["WebSocketHandler", "reject_websocket"]

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
#: How long closing a websocket may wait for the peer's close frame.
CLOSE_HANDSHAKE_TIMEOUT = 1.0


async def reject_websocket(
    scope: MutableMapping[str, Any],
    send: ASGISend,
    status: int,
    body: bytes,
    headers: Headers = (),  # type: ignore[assignment]
    *,
    content_type: bytes = b"application/json",
) -> None:
    """Refuse a websocket before accepting it: a real HTTP answer where the server allows."""
    if "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": CLOSE_POLICY})


class _FrameRefused(Exception):
    """A frame the session cannot take: close the socket with ``code``."""

    def __init__(self, code: int, reason: CloseReason, description: str) -> None:
        self.code = code
        self.reason = reason
        self.description = description
        super().__init__(description)


class _Socket:
    """The ASGI websocket of one request, with its close state."""

    def __init__(self, receive: ASGIReceive, send: ASGISend, max_payload: int) -> None:
        self.receive = receive
        self.send = send
        #: The request's channel, if the ASGI server gives it (``hypercorn_adapter.request_channel``).
        self.channel = request_channel(receive)
        #: Whether a send here is shielded from cancellation (``hypercorn_adapter.sends_shielded``).
        self.sends_shielded = sends_shielded(receive)
        self.max_payload = max_payload
        self.gone = False
        self.close_code = CLOSE_NORMAL
        #: Sent with the close frame (ASGI websocket spec 2.3), empty for none.
        self.close_reason = ""

    async def send_packet(self, packet: Packet) -> None:
        await self.send_packets([packet], closing=False)

    def closing_under_us(self) -> None:
        """A write met the ASGI server closing the connection (``hypercorn_adapter.SEND_RACE``).

        Nothing of that write went out and the client is going away: the socket
        counts as gone and the error stays here.
        """
        self.gone = True

    async def receive_packet(self) -> Packet | None:
        """The next packet, ``None`` once the peer has gone; :class:`_FrameRefused` for bad frames."""
        return self.parse(await self.receive())

    def parse(self, message: MutableMapping[str, Any]) -> Packet | None:
        """An ASGI websocket event as a packet (``None``: the peer has gone)."""
        if message["type"] == "websocket.disconnect":
            self.gone = True
            return None
        frame: str | bytes
        text = message.get("text")
        if text is not None:
            frame = str(text)
        else:
            data = message.get("bytes")
            frame = bytes(data) if data is not None else ""
        if self.frame_too_big(frame):
            raise _FrameRefused(CLOSE_TOO_BIG, CloseReason.TRANSPORT_ERROR, "payload too large")
        try:
            return decode_frame(frame)
        except ParseError as exc:
            raise _FrameRefused(CLOSE_PROTOCOL_ERROR, CloseReason.PARSE_ERROR, str(exc)) from None

    def pull_channel(self) -> trio.MemoryReceiveChannel[Any] | None:
        """A channel for tasks that pull frames, or ``None`` if this server gives none.

        A clone of the request's channel lets a puller take every frame that is
        already there without waiting, and closing the clone when the session
        ends wakes a blocked puller without a cancel scope around every pull.
        Without a channel only the request task reads frames.
        """
        channel = self.channel
        return channel.clone() if channel is not None else None

    async def send_packets(self, packets: list[Packet], *, closing: bool) -> None:
        """Send a batch; after the close the NOOP meant for a pending long-poll is dropped."""
        send = self.send
        try:
            for packet in packets:
                if closing and packet.type is PacketType.NOOP:
                    continue
                frame = encode_frame(packet)
                if isinstance(frame, str):
                    await send({"type": "websocket.send", "text": frame})
                else:
                    await send({"type": "websocket.send", "bytes": frame})
        except SEND_RACE:
            self.closing_under_us()

    def frame_too_big(self, frame: str | bytes) -> bool:
        # A str's UTF-8 size is at least its length; only measure exactly when it matters.
        if len(frame) > self.max_payload:
            return True
        if isinstance(frame, str) and len(frame) * 4 > self.max_payload and not frame.isascii():
            return len(frame.encode("utf-8")) > self.max_payload
        return False

    async def close(self) -> None:
        """Send the close frame, then wait (briefly) for the peer's close.

        ``hypercorn_adapter.close_websocket`` says why the wait matters.
        """
        if self.gone:
            return
        self.gone = True
        close: dict[str, Any] = {"type": "websocket.close", "code": self.close_code}
        if self.close_reason:
            close["reason"] = self.close_reason
        await close_websocket(self.send, self.receive, close, wait_for=CLOSE_HANDSHAKE_TIMEOUT)


class WebSocketHandler:
    """Answers the websocket requests of one server."""

    def __init__(self, server: Server, host: SessionHost) -> None:
        self.server = server
        self.host = host

    async def handle(
        self,
        scope: MutableMapping[str, Any],
        receive: ASGIReceive,
        send: ASGISend,
        query: EngineQuery,
        extra_headers: Headers,
    ) -> None:
        """Run one websocket request to its end (refusing it, for an unknown sid or a refused upgrade)."""
        server = self.server
        socket = _Socket(receive, send, server.options.max_http_buffer_size)
        try:
            if query.sid is None:
                conn = await server._create_session(transport="websocket", scope=scope)
                refusal = await server._open_session(conn)
            else:
                refusal = None
                conn = server._session_for_request(query.sid)
                if conn.closed:
                    raise RequestRejected(ErrorCode.UNKNOWN_SID, f"sid {query.sid!r}")
                try:
                    conn.core.start_upgrade(trio.current_time())
                except TransportTaken as exc:
                    await self._accept_and_close(conn, socket, scope, extra_headers, str(exc))
                    return
                except RemoteProtocolError as exc:
                    raise RequestRejected(ErrorCode.BAD_REQUEST, f"upgrade refused: {exc}") from None
        except RequestRejected as rejected:
            await self.refuse(scope, send, rejected, extra_headers)
            return
        if query.sid is None:
            if refusal is not None:
                await reject_websocket(scope, send, 401, unauthorized_body(server, refusal), extra_headers)
                return
            headers = [*extra_headers, *cookie_header(server, conn.sid)]
            if not await _accept(conn, send, headers, scope, self.host.logger):
                return
            open_packet = Packet(PacketType.OPEN, self.host.open_packet_data(conn.core))
            try:
                await socket.send_packet(open_packet)
                await self._run_session_socket(conn, socket)
            finally:
                await self._finish(conn, socket)
            return
        conn.reschedule_heartbeat()
        try:
            if not await _accept(conn, send, list(extra_headers), scope, self.host.logger):
                return
            if not await self._probe(conn, socket):
                return
            await self._run_session_socket(conn, socket)
        finally:
            if conn.core.upgrading:
                conn.core.abort_upgrade("upgrade request ended")
                conn.notify()
            if conn.transport == "websocket":
                await self._finish(conn, socket)
            else:
                await socket.close()

    async def refuse(
        self, scope: MutableMapping[str, Any], send: ASGISend, rejected: RequestRejected, headers: Headers
    ) -> None:
        """Refuse a websocket before accepting it, with one log line."""
        self.host.rejected += 1
        self.server.logger.info(
            "refused websocket %s: %s (HTTP %d)", scope.get("path"), rejected, rejected.status
        )
        await reject_websocket(scope, send, rejected.status, rejected.body(), headers)

    async def _accept_and_close(
        self,
        conn: Session,
        socket: _Socket,
        scope: MutableMapping[str, Any],
        headers: Headers,
        reason: str,
    ) -> None:
        """A second websocket for a session that has one: accept it, close it with 1008, as the reference.

        The session is not touched: clients see a close with a reason, not a
        failed handshake.
        """
        self.host.rejected += 1
        self.server.logger.info("closed a second websocket for session %s: %s", conn.sid, reason)
        try:
            await socket.send({"type": "websocket.accept", "headers": list(headers)})
        except Exception as exc:
            self.server.logger.info("websocket accept failed for session %s: %r", conn.sid, exc)
            return
        socket.close_code = CLOSE_POLICY
        socket.close_reason = reason
        await socket.close()

    async def _probe(self, conn: Session, socket: _Socket) -> bool:
        """Run the 2probe/3probe/5 exchange; True once the session runs on this socket."""
        core = conn.core
        scope = trio.CancelScope(deadline=core.upgrade_deadline)
        conn.probe_scope = scope
        outcome = "upgrade timed out"
        channel = socket.channel
        try:
            with scope:
                while core.upgrading:
                    conn.probe_reading(channel)
                    try:
                        packet = await socket.receive_packet()
                    except _FrameRefused as refused:
                        outcome = f"{refused.description} during the upgrade"
                        socket.close_code = refused.code
                        break
                    finally:
                        conn.probe_read()
                    if packet is None:
                        outcome = "socket closed during the upgrade"
                        break
                    if not core.upgrading:
                        break
                    event = core.receive_upgrade_packet(packet, trio.current_time())
                    if isinstance(event, ProbeAnswered):
                        await socket.send_packet(event.reply)
                        conn.notify()
                        await conn.emit("upgrading", "websocket")
                    elif isinstance(event, UpgradeCompleted):
                        conn.notify()
                        self.server.logger.info("session %s upgraded to websocket", conn.sid)
                        await conn.emit("upgrade", "websocket")
                        return True
                    elif isinstance(event, UpgradeAborted):
                        outcome = event.description
                        socket.close_code = CLOSE_PROTOCOL_ERROR
                        break
        finally:
            conn.probe_scope = None
        if core.upgrading:
            core.abort_upgrade(outcome)
            conn.notify()
        if not conn.closed:
            self.server.logger.info("session %s upgrade abandoned: %s", conn.sid, outcome)
        return False

    async def _run_session_socket(self, conn: Session, socket: _Socket) -> None:
        """Pump the session over this socket; on cancellation say goodbye first.

        Hypercorn cancels open requests when it shuts down, before the ASGI
        lifespan hears of it: the session then closes with "server shutdown"
        and the client still gets its CLOSE packet.
        """
        channel = socket.pull_channel()
        if channel is not None:
            lease = SocketLease(
                pull=partial(self._read_frames, conn, socket, channel.receive, channel),
                interrupt=channel.close,
                handover_delay=PULL_HANDOVER_DELAY,
            )
            if self.server.options.direct_replies and socket.sends_shielded:
                lease.allow_replies(partial(self._write_direct, conn, socket, lease))
        else:
            lease = SocketLease()
        conn.attach_websocket(lease)
        try:
            # Write (and, as a backstop, read) until the session closes or the socket goes
            # away. Inline, not in helper coroutines: every idle websocket's request task
            # keeps this frame.
            flushed = True
            core = conn.core
            shielded = socket.sends_shielded
            while True:
                if socket.gone:
                    core.mark_final_packets_sent()
                    break
                if core.has_outgoing() and lease.writer_idle and shielded and not core.closed:
                    # A shielded send (hypercorn_adapter.sends_shielded): a scope around it
                    # could not bound it. A close during it is seen at the next turn.
                    if await self._flush(conn, socket, lease):
                        break
                elif not lease.writer_idle or core.has_outgoing():
                    # Writing (or waiting for a direct reply to be written) is bounded once
                    # the session has closed; an idle writer holds no cancel scope.
                    with trio.CancelScope(deadline=conn.flush_deadline()) as scope:
                        conn.transport_scope = scope
                        try:
                            if lease.await_reply():
                                await conn.wait_changed()
                                done = False
                            else:
                                done = await self._flush(conn, socket, lease)
                        finally:
                            conn.transport_scope = None
                    if scope.cancelled_caught:
                        flushed = False
                        break
                    if done:
                        break
                elif core.closed:
                    core.mark_final_packets_sent()
                    break
                elif conn.backstop_due():
                    await self._backstop_read(conn, socket, lease)
                else:
                    await conn.wait_changed()
            if not flushed and conn.closed and not socket.gone:
                # The peer stopped reading: the last packets could not be flushed in time.
                socket.gone = True
        except trio.Cancelled:
            conn.close(CloseReason.SERVER_SHUTDOWN, "request cancelled by the ASGI server")
            with trio.CancelScope(deadline=trio.current_time() + 1, shield=True):
                if not socket.gone:
                    await socket.send_packets(conn.core.take_outgoing(), closing=True)
                    conn.core.mark_final_packets_sent()
            raise
        finally:
            conn.detach_websocket()

    async def _read_frames(
        self,
        conn: Session,
        socket: _Socket,
        receive: ASGIReceive,
        queued: trio.MemoryReceiveChannel[Any] | None,
    ) -> None:
        """Read one frame and apply it to the session (messages go to its queue).

        With ``queued`` (a puller's clone of the request channel), then every
        frame already waiting there, while the handler's queue has room: so a
        handler that takes a message now and then still lets PONGs and the
        client's CLOSE queued behind other frames be seen at once. A frame once
        read is always applied, even if the reading task is cancelled while a
        ``packet_received`` handler runs.
        """
        if conn.core.closed or socket.gone:
            conn.after_close()
            return
        try:
            message = await receive()
        except trio.ClosedResourceError:
            return  # the session ended and closed the pulling channel
        await self._take_frame(conn, socket, message)
        if queued is None:
            return
        while not conn.close_applied and not conn.queue_full():
            try:
                message = queued.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return
            await self._take_frame(conn, socket, message)

    async def _take_frame(self, conn: Session, socket: _Socket, message: MutableMapping[str, Any]) -> None:
        """Apply one received ASGI websocket event to the session."""
        frame = message.get("text")
        if frame is None:
            frame = message.get("bytes")
            if frame is not None:
                frame = bytes(frame)
        core = conn.core
        if frame is None or socket.frame_too_big(frame) or conn.wants("packet_received"):
            await self._take_packet(conn, socket, message)
            return
        # The common case first, with no packet object: a message for the handler's queue.
        data = core.message_in_frame(frame)
        if data is not None:
            conn.queue_received(data)
            return
        try:
            events = core.receive_frame(frame, trio.current_time())
        except ParseError as exc:
            socket.close_code = CLOSE_PROTOCOL_ERROR
            conn.close(CloseReason.PARSE_ERROR, str(exc))
            return
        _apply(conn, events[0] if events else None)

    async def _take_packet(self, conn: Session, socket: _Socket, message: MutableMapping[str, Any]) -> None:
        """The slow path: the peer went away, a frame is refused, or a hook wants the packet."""
        try:
            packet = socket.parse(message)
        except _FrameRefused as refused:
            socket.close_code = refused.code
            conn.close(refused.reason, refused.description)
            return
        if packet is None:
            conn.close(CloseReason.TRANSPORT_CLOSE, "websocket closed by the client")
            return
        core = conn.core
        if conn.wants("packet_received"):
            try:
                await conn.emit("packet_received", packet)
            finally:
                _apply(conn, core.receive_packet(packet, trio.current_time()))
        else:
            _apply(conn, core.receive_packet(packet, trio.current_time()))

    async def _backstop_read(self, conn: Session, socket: _Socket, lease: SocketLease) -> None:
        """Read one frame in the request task because no task is pulling; any change stops it."""
        with trio.CancelScope() as scope:
            lease.begin_backstop(scope)
            try:
                await self._read_frames(conn, socket, socket.receive, None)
            finally:
                if lease.end_backstop():
                    conn.notify()  # a task is waiting to take over the reading

    async def _flush(self, conn: Session, socket: _Socket, lease: SocketLease) -> bool:
        """Send what the core has queued; True once the final packets went out.

        A separate frame, so that an idle writer does not hold its last batch.
        """
        core = conn.core
        packets = core.take_outgoing()
        conn.notify()
        closing = core.closed
        lease.begin_write()
        try:
            await socket.send_packets(packets, closing=closing)
        finally:
            lease.end_write()
        await conn.after_flush(packets)
        if closing:
            core.mark_final_packets_sent()
        return closing

    async def _write_direct(
        self, conn: Session, socket: _Socket, lease: SocketLease, message: str | bytes
    ) -> None:
        """Write one reply message in the handler's task (see ``Session.send``).

        Only where sends are shielded (``hypercorn_adapter.sends_shielded``): a
        ``Cancelled`` out of the send means nothing was written, so the message
        goes back to the queue for the transport.
        """
        requeued = False  # the lease's writer is REPLY since take_reply_slot()
        frame = encode_message_frame(message)
        try:
            if type(frame) is str:
                await socket.send({"type": "websocket.send", "text": frame})
            else:
                await socket.send({"type": "websocket.send", "bytes": frame})
        except SEND_RACE:
            socket.closing_under_us()
            conn.notify()  # the transport sees the socket gone
        except trio.Cancelled:
            conn.core.return_outgoing([Packet(PacketType.MESSAGE, message)])
            requeued = True
            raise
        finally:
            awaited = lease.end_reply()
            if awaited or requeued or conn.core.closed:
                conn.notify()
        await conn.after_flush_one(message)

    async def _finish(self, conn: Session, socket: _Socket) -> None:
        if not conn.closed:
            conn.close(CloseReason.TRANSPORT_CLOSE, "websocket request ended")
        info = conn.close_info
        if (
            socket.close_code == CLOSE_NORMAL
            and info is not None
            and info.reason is CloseReason.SERVER_SHUTDOWN
        ):
            socket.close_code = CLOSE_GOING_AWAY
        await socket.close()


def _apply(conn: Session, event: Event | None) -> None:
    """Act on what the core made of a received packet; queue a message for the handler."""
    if type(event) is MessageReceived:
        conn.queue_received(event.data)
    elif event is not None:
        for data in conn.handle_events([event]):
            conn.queue_received(data)
    if conn.core.closed:
        conn.after_close()


async def _accept(
    conn: Session, send: ASGISend, headers: Headers, scope: MutableMapping[str, Any], logger: logging.Logger
) -> bool:
    """Accept the websocket; False (and the session closed or left alone) if the server can't.

    A failed accept (``hypercorn_adapter.accept_websocket``) ends the request,
    not the server; the refusal sent after it reaches clients of servers that
    have not answered already.
    """
    exc = await accept_websocket(send, headers)
    if exc is not None:
        logger.info("websocket accept failed for session %s: %r", conn.sid, exc)
        if conn.transport == "websocket" and not conn.core.upgrading:
            conn.close(CloseReason.TRANSPORT_ERROR, "websocket accept failed")
        rejected = RequestRejected(ErrorCode.BAD_REQUEST, "websocket accept failed")
        try:
            await reject_websocket(scope, send, rejected.status, rejected.body())
        except Exception:
            pass
        return False
    return True
