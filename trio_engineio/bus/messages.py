"""What travels on the bus: three kinds of message, and the node-id rules that route them.

A session id issued by ``Server(node_id="a")`` starts with ``"a."``: :func:`node_of` reads
the node back from it, so a message for one session goes to that node's channel only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "MAX_NODE_ID_LENGTH",
    "BusBroadcast",
    "BusDisconnect",
    "BusMessage",
    "BusRelay",
    "BusSend",
    "check_node_id",
    "node_of",
]

#: The longest node id: it is repeated in every session id and channel name.
MAX_NODE_ID_LENGTH = 32
_NODE_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_NODE_ID_LENGTH}}}")


def check_node_id(node_id: object) -> str:
    """``node_id`` if it is a valid node id, else ``ValueError`` (``TypeError`` for a non-str).

    A node id is 1 to 32 ASCII letters, digits, ``-`` or ``_``: it fits the session id
    character set, a URL query and an nginx ``map`` without escaping, and it has no ``.``
    (the separator between the node id and the rest of a session id).
    """
    if not isinstance(node_id, str):
        raise TypeError(f"node id must be a str, not {type(node_id).__name__}")
    if not _NODE_ID.fullmatch(node_id):
        raise ValueError(
            f"invalid node id {node_id!r}: use 1 to {MAX_NODE_ID_LENGTH} ASCII letters, digits, '-' or '_'"
        )
    return node_id


def node_of(sid: str) -> str | None:
    """The node a session id names (``"a"`` for ``"a.xYz"``), or ``None`` if it names none."""
    node_id, dot, rest = sid.partition(".")
    if dot and rest and _NODE_ID.fullmatch(node_id):
        return node_id
    return None


@dataclass(frozen=True, slots=True)
class BusSend:
    """Send ``data`` to session ``sid``: ``str`` as a text message, ``bytes`` as binary."""

    sid: str
    data: str | bytes


@dataclass(frozen=True, slots=True)
class BusDisconnect:
    """Close session ``sid`` (as ``Server.disconnect(sid)`` does)."""

    sid: str


@dataclass(frozen=True, slots=True)
class BusBroadcast:
    """Send ``data`` to every session of every node, except the sessions in ``exclude``."""

    data: str | bytes
    exclude: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class BusRelay:
    """An opaque ``payload`` for every other node's :meth:`Server.on_node_message` receiver.

    The engine does not look inside: a layer on top (Socket.IO rooms and broadcasts)
    defines and checks what it carries.
    """

    payload: bytes


#: Any message a bus carries.
BusMessage = BusSend | BusDisconnect | BusBroadcast | BusRelay
