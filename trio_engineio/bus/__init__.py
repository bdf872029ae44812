"""The bus between server processes: what a :class:`~trio_engineio.Server` plugs into.

Public names (exported by ``trio_engineio``): :class:`Bus`, :class:`RedisBus`,
:class:`BusStatistics`, :class:`Emitter`, :func:`open_emitter`; ``MemoryBus`` is exported
by ``trio_engineio.testing``.

The server's side of it
-----------------------

A server with ``node_id="a"`` issues session ids that start with ``"a."`` and runs one
:class:`BusLink` in its nursery::

    from trio_engineio.bus import BusBroadcast, BusDisconnect, BusLink, BusSend, check_node_id, node_of

    self._link = BusLink(bus, node_id=check_node_id(node_id), deliver=self._from_bus)
    await nursery.start(self._link.run)       # returns once connected, or after connect_timeout
    ...
    self._link.publish(BusSend(sid, data))    # sid on another node: never waits, False if dropped
    self._link.publish(BusDisconnect(sid))
    self._link.publish(BusBroadcast(data, frozenset(exclude)))  # after delivering locally
    ...
    await self._link.aclose()                 # at shutdown: flush (flush_timeout), then run() returns
    self._link.statistics()                   # BusStatistics, for ServerStatistics

* ``deliver(message)`` is synchronous and must not block: it gets a :class:`BusSend` /
  :class:`BusDisconnect` whose session id names this node (it may no longer exist: the
  node counts that), or a :class:`BusBroadcast` from *another* node or an emitter (a
  node's own broadcasts are not delivered back: it delivers them locally). ``data`` is
  ``str`` (a text message) or ``bytes`` (binary), exactly as published. It also gets a
  :class:`BusRelay` from another node: opaque bytes for the layer above the engine
  (``Server.publish_to_nodes`` / ``Server.on_node_message``; Socket.IO rooms across nodes).
* :meth:`BusLink.publish` routes a send or disconnect to the node its session id names
  (:func:`node_of`), ``ValueError`` if it names none. It raises ``ValueError`` as well for
  a message over ``max_message_size`` (the caller's mistake, like an oversized payload),
  and returns ``False`` when the message was dropped (buffer full, link closing).
* Routing: each node subscribes to its own channel and to the broadcast channel, so a
  send costs one message to one node, whatever the number of nodes; only broadcasts
  reach everyone.
* Delivery is at most once; see :class:`Bus`.

Modules: :mod:`.messages` (the messages, node ids), :mod:`.envelope` (the wire format),
:mod:`.base` (:class:`Bus`: options, channels, the transport interface), :mod:`.link`
(:class:`BusLink`), :mod:`.redis`, :mod:`.memory`, :mod:`.emitter`.
"""

from __future__ import annotations

from .base import Bus, BusOptions
from .emitter import Emitter, open_emitter
from .link import BusLink, BusStatistics, open_bus_link
from .memory import MemoryBus
from .messages import BusBroadcast, BusDisconnect, BusMessage, BusRelay, BusSend, check_node_id, node_of
from .redis import RedisBus

__all__ = [
    "Bus",
    "BusBroadcast",
    "BusDisconnect",
    "BusLink",
    "BusMessage",
    "BusOptions",
    "BusRelay",
    "BusSend",
    "BusStatistics",
    "Emitter",
    "MemoryBus",
    "RedisBus",
    "check_node_id",
    "node_of",
    "open_bus_link",
    "open_emitter",
]
