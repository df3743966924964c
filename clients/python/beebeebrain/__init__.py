"""BeeBeeBrain's Python client.

    import beebeebrain

    with beebeebrain.Client() as c:                    # $BEEBEEBRAIN_RPC_URL or tcp://127.0.0.1:7420
        task = c.task.create_task(title="hello").task  # a beebeebrain.v1.task_pb2.CreateTaskResponse
        c.task.run_task(task_id=task.id, prompt="hi", wait=True)

Client (threads) and AsyncClient (asyncio) have one attribute per service
(task, inbox, event, health, project, agent, tool, log, metrics, admin,
runtime) with one method per RPC; Subscriber reads the event stream without
losing an event; every failed call raises RpcError. The message classes are in
beebeebrain.v1.<file>_pb2. See README.md of the package for more.
"""

from .client import DEFAULT_TIMEOUT, DEFAULT_URL, REQUEST_MAX_BYTES, AsyncClient, Client
from .errors import CODE_NAMES, RpcError, Violation
from .subscriber import Subscriber
from .v1.events_pb2 import Event

__version__ = "0.1.0"
__all__ = ["AsyncClient", "Client", "Subscriber", "RpcError", "Violation", "Event", "CODE_NAMES",
           "REQUEST_MAX_BYTES", "DEFAULT_URL", "DEFAULT_TIMEOUT"]
