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
import threading

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
