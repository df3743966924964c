"""ctypes bindings of the few nng 1.5 functions the package uses (libnng.so.1,
Debian's libnng1). No compiled extension: nothing to build but the .proto
modules.

nng's handles (nng_socket, nng_ctx, nng_dialer) are structs of one uint32
passed by value; nng_aio and nng_msg are opaque pointers. ctypes releases the
GIL around every foreign call, so a thread waiting in nng_aio_wait does not
hold up the others. Message memory is nng's: copied into Python bytes, then
freed with nng_msg_free.
"""

import ctypes
import ctypes.util
import sys
import threading
import warnings

# nng.h (1.5.2)
FLAG_NONBLOCK = 2
DURATION_INFINITE = -1
ETIMEDOUT = 5
ECLOSED = 7
EAGAIN = 8
ECANCELED = 20

OPT_RECVMAXSZ = b"recv-size-max"
OPT_RECVBUF = b"recv-buffer"
OPT_RECVFD = b"recv-fd"
OPT_REQ_RESENDTIME = b"req:resend-time"
OPT_SUB_SUBSCRIBE = b"sub:subscribe"


class Handle(ctypes.Structure):
    """nng_socket, nng_ctx and nng_dialer: { uint32_t id; }."""

    _fields_ = [("id", ctypes.c_uint32)]


AIO_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p)

_P = ctypes.c_void_p
_HP = ctypes.POINTER(Handle)
_PROTOS = {
    "nng_req0_open": (ctypes.c_int, [_HP]),
    "nng_sub0_open": (ctypes.c_int, [_HP]),
    "nng_close": (ctypes.c_int, [Handle]),
    "nng_strerror": (ctypes.c_char_p, [ctypes.c_int]),
    "nng_socket_set": (ctypes.c_int, [Handle, ctypes.c_char_p, _P, ctypes.c_size_t]),
    "nng_socket_set_ms": (ctypes.c_int, [Handle, ctypes.c_char_p, ctypes.c_int32]),
    "nng_socket_set_int": (ctypes.c_int, [Handle, ctypes.c_char_p, ctypes.c_int]),
    "nng_socket_get_int": (ctypes.c_int, [Handle, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]),
    "nng_dial": (ctypes.c_int, [Handle, ctypes.c_char_p, _P, ctypes.c_int]),
    "nng_dialer_create": (ctypes.c_int, [_HP, Handle, ctypes.c_char_p]),
    "nng_dialer_set_size": (ctypes.c_int, [Handle, ctypes.c_char_p, ctypes.c_size_t]),
    "nng_dialer_start": (ctypes.c_int, [Handle, ctypes.c_int]),
    "nng_ctx_open": (ctypes.c_int, [_HP, Handle]),
    "nng_ctx_close": (ctypes.c_int, [Handle]),
    "nng_ctx_send": (None, [Handle, _P]),
    "nng_ctx_recv": (None, [Handle, _P]),
    "nng_aio_alloc": (ctypes.c_int, [ctypes.POINTER(_P), _P, _P]),
    "nng_aio_free": (None, [_P]),
    "nng_aio_stop": (None, [_P]),
    "nng_aio_wait": (None, [_P]),
    "nng_aio_result": (ctypes.c_int, [_P]),
    "nng_aio_set_timeout": (None, [_P, ctypes.c_int32]),
    "nng_aio_set_msg": (None, [_P, _P]),
    "nng_aio_get_msg": (_P, [_P]),
    "nng_msg_alloc": (ctypes.c_int, [ctypes.POINTER(_P), ctypes.c_size_t]),
    "nng_msg_free": (None, [_P]),
    "nng_msg_body": (_P, [_P]),
    "nng_msg_len": (ctypes.c_size_t, [_P]),
    "nng_recvmsg": (ctypes.c_int, [Handle, ctypes.POINTER(_P), ctypes.c_int]),
    # Not used by the package: for programs (and our tests) that drive raw
    # sockets of their own through this binding.
    "nng_rep0_open": (ctypes.c_int, [_HP]),
    "nng_listen": (ctypes.c_int, [Handle, ctypes.c_char_p, _P, ctypes.c_int]),
    "nng_socket_set_size": (ctypes.c_int, [Handle, ctypes.c_char_p, ctypes.c_size_t]),
    "nng_send": (ctypes.c_int, [Handle, _P, ctypes.c_size_t, ctypes.c_int]),
    "nng_recv": (ctypes.c_int, [Handle, _P, ctypes.POINTER(ctypes.c_size_t), ctypes.c_int]),
    "nng_free": (None, [_P, ctypes.c_size_t]),
}

_lib = None
_lib_lock = threading.Lock()


def lib():
    """libnng, loaded once (OSError when it is not installed)."""
    global _lib
    with _lib_lock:
        if _lib is None:
            found = ctypes.CDLL(ctypes.util.find_library("nng") or "libnng.so.1")
            for name, (restype, argtypes) in _PROTOS.items():
                fn = getattr(found, name)
                fn.restype, fn.argtypes = restype, argtypes
            _lib = found
    return _lib


def strerror(rv):
    return lib().nng_strerror(rv).decode(errors="replace")


# nng 1.5.2 can hang in nng_close for ever. When a connection is cut while a
# message is still being written to it (a server dropping a request over its
# size limit) or read from it (a close with replies streaming in), the TCP
# transport drops the next step of that transfer without completing it, and
# nng's one reaper thread, which frees connections, then waits for it for
# ever (fixed upstream in nng 1.9.0); over ws:// it can wait so for a dialer
# whose redial after the cut never ends. A close first fails the socket's
# calls in flight and shuts its connections down, then waits for the reaper
# to free them: only that last wait can hang, so past CLOSE_WAIT_S close
# gives up on it and the socket's memory stays with nng until the process
# exits. Every later close in the process then waits behind the same reaper,
# so while one close hangs the others do not wait at all.
CLOSE_WAIT_S = 5.0

# Reentrant: a close run by the garbage collector (__del__) may interrupt
# this thread while it holds the lock.
_hung_lock = threading.RLock()
_hung_closes = 0  # closes that passed CLOSE_WAIT_S and have not returned since


class _Close:
    """One nng_close on a thread of its own (nng_close ignores Python's
    signals, and a thread is the only way to stop waiting for it)."""

    def __init__(self, sock):
        self.sock = sock
        self.done = threading.Event()
        self.given_up = False

    def run(self):
        global _hung_closes
        lib().nng_close(self.sock)
        with _hung_lock:
            self.done.set()
            if self.given_up:
                _hung_closes -= 1


def close_socket(sock, what):
    """nng_close(sock), waiting at most CLOSE_WAIT_S for it, or not at all
    while an earlier close hangs. True when it returned in time; else the
    close goes on in the background (a RuntimeWarning naming `what` says so
    when it was waited for). While the interpreter shuts down (a client
    collected then) the socket is left to the operating system: a thread
    started then never runs, and Thread.start would wait for it for ever."""
    global _hung_closes
    if sys.is_finalizing():
        return False
    close = _Close(sock)
    with _hung_lock:
        wait_s = 0 if _hung_closes else CLOSE_WAIT_S
    try:
        threading.Thread(target=close.run, name="nng-close", daemon=True).start()
    except RuntimeError:  # can't create new thread at interpreter shutdown
        return False
    if close.done.wait(wait_s):
        return True
    with _hung_lock:
        if close.done.is_set():
            return True
        close.given_up = True
        _hung_closes += 1
    if wait_s:
        warnings.warn(f"closing {what}: nng_close has not returned after {wait_s:g} s (nng 1.5.2 hangs so after "
                      "a connection was cut mid-transfer); its connections are shut, its memory stays with nng, "
                      "and later closes in this process do not wait", RuntimeWarning, stacklevel=2)
    return False


def msg_from_bytes(data):
    """A new nng_msg holding data (owned by the caller until sent or freed);
    (rv, msg)."""
    msg = ctypes.c_void_p()
    rv = lib().nng_msg_alloc(ctypes.byref(msg), len(data))
    if rv == 0 and data:
        ctypes.memmove(lib().nng_msg_body(msg), data, len(data))
    return rv, msg


def msg_take_bytes(msg):
    """The body of msg as bytes; msg is freed."""
    n = lib().nng_msg_len(msg)
    try:
        return ctypes.string_at(lib().nng_msg_body(msg), n) if n else b""
    finally:
        lib().nng_msg_free(msg)
