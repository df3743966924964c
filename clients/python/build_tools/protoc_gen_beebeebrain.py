"""protoc plugin: the typed service clients of the `beebeebrain` package.

protoc runs it with a CodeGeneratorRequest on stdin (the .proto files and their
comments) and expects a CodeGeneratorResponse on stdout. It writes one module,
`beebeebrain/_services.py`, and its stub `beebeebrain/_services.pyi`:

  - per service `FooService`, a class `FooService` (blocking) and
    `AsyncFooService` (coroutines), one snake_case method per unary RPC, whose
    docstring is the RPC's leading comment in the .proto;
  - `_Services` / `_AsyncServices`, the base classes of `Client` and
    `AsyncClient`, which give them one attribute per service (`task`, `inbox`,
    ...: the service name without `Service`, in snake_case).

Every method takes a request message or keyword arguments naming its fields,
plus the per-call options `request_id`, `timeout` and `trace_id` (a request
field of the same name is set from the option too), and returns the declared
response type. Streaming RPCs are not callable over nng req/rep: they are left
out (listed in a comment); events are read with `beebeebrain.Subscriber`.

Only the standard library and `google.protobuf` are used: the plugin runs at
build time, under the interpreter that builds the package.
"""

import keyword
import re
import sys

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2

OUT_MODULE = "beebeebrain/_services"
CALL_OPTIONS = ("request_id", "timeout", "trace_id")

# FieldDescriptorProto.Type -> the Python type a keyword argument takes.
_SCALAR_TYPES = {
    descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE: "float",
    descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT: "float",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT64: "int",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT64: "int",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT32: "int",
    descriptor_pb2.FieldDescriptorProto.TYPE_FIXED64: "int",
    descriptor_pb2.FieldDescriptorProto.TYPE_FIXED32: "int",
    descriptor_pb2.FieldDescriptorProto.TYPE_BOOL: "bool",
    descriptor_pb2.FieldDescriptorProto.TYPE_STRING: "str",
    descriptor_pb2.FieldDescriptorProto.TYPE_BYTES: "bytes",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT32: "int",
    descriptor_pb2.FieldDescriptorProto.TYPE_SFIXED32: "int",
    descriptor_pb2.FieldDescriptorProto.TYPE_SFIXED64: "int",
    descriptor_pb2.FieldDescriptorProto.TYPE_SINT32: "int",
    descriptor_pb2.FieldDescriptorProto.TYPE_SINT64: "int",
}

# SourceCodeInfo paths: FileDescriptorProto.service = 6, .message_type = 4;
# ServiceDescriptorProto.method = 2; DescriptorProto.field = 2, .nested_type = 3.
_SERVICE, _MESSAGE, _METHOD, _FIELD, _NESTED = 6, 4, 2, 2, 3


def snake(name):
    """CreateTask -> create_task, RunsSummary -> runs_summary, ACKAlert -> ack_alert."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()
    return s + "_" if keyword.iskeyword(s) else s


def attribute_name(service_name):
    """TaskService -> task: the attribute of Client that holds its methods."""
    base = service_name[: -len("Service")] if service_name.endswith("Service") else service_name
    return snake(base)


def module_of(proto_name):
    """beebeebrain/v1/task.proto -> beebeebrain.v1.task_pb2 (protoc's rule)."""
    return proto_name[: -len(".proto")].replace("-", "_").replace("/", ".") + "_pb2"


class Types:
    """Fully qualified message and enum names -> (module, Python name)."""

    def __init__(self, files):
        self.messages, self.enums = {}, {}
        self.field_notes = {}  # message full name -> {field name: comment}
        for f in files:
            pkg = "." + f.package if f.package else ""
            notes = comments(f)
            for i, m in enumerate(f.message_type):
                self._message(f, pkg, m, "", (_MESSAGE, i), notes)
            for e in f.enum_type:
                self.enums[f"{pkg}.{e.name}"] = (module_of(f.name), e.name)

    def _message(self, f, prefix, m, py_prefix, path, notes):
        full, py = f"{prefix}.{m.name}", f"{py_prefix}{m.name}"
        self.messages[full] = (module_of(f.name), py, m)
        self.field_notes[full] = {fd.name: notes.get(path + (_FIELD, i), "") for i, fd in enumerate(m.field)}
        for i, nested in enumerate(m.nested_type):
            self._message(f, full, nested, py + ".", path + (_NESTED, i), notes)
        for e in m.enum_type:
            self.enums[f"{full}.{e.name}"] = (module_of(f.name), f"{py}.{e.name}")

    def ref(self, full_name):
        mod, py = self.messages[full_name][:2]
        return f"{mod.rsplit('.', 1)[-1]}.{py}"

    def module(self, full_name):
        return self.messages[full_name][0]

    def field_type(self, field):
        if field.type == descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE:
            entry = self.messages.get(field.type_name)
            if entry is not None and entry[2].options.map_entry:
                return "typing.Mapping[typing.Any, typing.Any]"
            t = self.ref(field.type_name) if entry is not None else "typing.Any"
        elif field.type == descriptor_pb2.FieldDescriptorProto.TYPE_ENUM:
            mod, py = self.enums.get(field.type_name, (None, None))
            t = f"{mod.rsplit('.', 1)[-1]}.{py} | int" if mod else "int"
        else:
            t = _SCALAR_TYPES.get(field.type, "typing.Any")
        if field.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED:
            return f"typing.Iterable[{t}]"
        return t


def comments(f):
    """SourceCodeInfo of a file: path tuple -> leading comment (stripped)."""
    out = {}
    for loc in f.source_code_info.location:
        text = (loc.leading_comments or loc.trailing_comments).strip()
        if text:
            out[tuple(loc.path)] = "\n".join(line.strip() for line in text.splitlines())
    return out


def docstring(text, indent):
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    pad = " " * indent
    lines = text.splitlines() or [""]
    if len(lines) == 1:
        return f'{pad}"""{lines[0]}"""\n'
    body = "\n".join((pad + line) if line else "" for line in lines)
    return f'{pad}"""{body.lstrip()}\n{pad}"""\n'


class Method:
    def __init__(self, service, m, doc, types):
        self.name = m.name
        self.py_name = snake(m.name)
        self.path = f"/{service.full_name}/{m.name}"
        self.input = m.input_type
        self.output = m.output_type
        self.streaming = m.client_streaming or m.server_streaming
        self.doc = doc
        self.types = types

    def field_doc(self):
        msg = self.types.messages[self.input][2]
        notes = self.types.field_notes[self.input]
        if not msg.field:
            return ["Takes no fields."]
        lines = ["Fields:"]
        for f in msg.field:
            note = " ".join(notes.get(f.name, "").split())
            lines.append(f"    {f.name}: {note}" if note else f"    {f.name}")
        return lines

    def full_doc(self):
        parts = [self.doc or f"{self.path}.", ""]
        parts += self.field_doc()
        parts.append(f"Returns {self.output.lstrip('.')}; raises RpcError.")
        return "\n".join(parts)


class Service:
    def __init__(self, f, index, s, notes, types):
        pkg = f.package + "." if f.package else ""
        self.name = s.name
        self.full_name = pkg + s.name
        self.attr = attribute_name(s.name)
        self.doc = notes.get((_SERVICE, index), f"{self.full_name}.")
        self.methods = [Method(self, m, notes.get((_SERVICE, index, _METHOD, i)), types) for i, m in enumerate(s.method)]


def collect(request):
    files = list(request.proto_file)
    types = Types(files)
    services = []
    for f in files:
        if f.name not in request.file_to_generate:
            continue
        notes = comments(f)
        for i, s in enumerate(f.service):
            services.append(Service(f, i, s, notes, types))
    return types, services


def used_modules(types, services):
    mods = set()
    for s in services:
        for m in s.methods:
            if not m.streaming:
                mods.add(types.module(m.input))
                mods.add(types.module(m.output))
    return sorted(mods)


HEADER = '''"""Typed service clients, generated from proto/ by build_tools/protoc_gen_beebeebrain.py.

Do not edit: the package build (and the CMake build) writes this file.
"""
'''


def gen_module(types, services):
    out = [HEADER, "\n", "import typing\n\n"]
    out += [f"from {m.rsplit('.', 1)[0]} import {m.rsplit('.', 1)[1]}\n" for m in used_modules(types, services)]
    out.append("\n")
    for s in services:
        for is_async in (False, True):
            out.append(gen_class(types, s, is_async))
    for is_async in (False, True):
        prefix = "Async" if is_async else ""
        out.append(f"\n\nclass _{prefix}Services:\n")
        out.append('    """One attribute per service (the base class of the client)."""\n\n')
        out.append("    def _bind_services(self) -> None:\n")
        for s in services:
            out.append(f"        self.{s.attr} = {prefix}{s.name}(self)\n")
    out.append(f"\n\nSERVICES = {tuple((s.attr, s.full_name) for s in services)!r}\n")
    return "".join(out)


def gen_class(types, s, is_async):
    prefix = "Async" if is_async else ""
    out = [f"\n\nclass {prefix}{s.name}:\n", docstring(s.doc, 4), "\n"]
    out.append(f"    _name = {s.full_name!r}\n\n")
    out.append("    def __init__(self, client: typing.Any) -> None:\n        self._client = client\n")
    skipped = [m.name for m in s.methods if m.streaming]
    if skipped:
        out.append(f"\n    # Streaming, not callable over nng req/rep (use beebeebrain.Subscriber): {', '.join(skipped)}\n")
    for m in s.methods:
        if m.streaming:
            continue
        req, resp = types.ref(m.input), types.ref(m.output)
        kw = "async def" if is_async else "def"
        call = "await self._client._call_async" if is_async else "self._client._call"
        out.append(f"\n    {kw} {m.py_name}(self, request=None, /, *, request_id=None, timeout=None, trace_id=None,"
                   " **fields):\n")
        out.append(docstring(m.full_doc(), 8))
        out.append(f"        return {call}({m.path!r}, {req}, {resp}, request, fields, request_id, timeout, trace_id)\n")
    return "".join(out)


def gen_stub(types, services):
    out = [HEADER, "\n", "import typing\n\n"]
    mods = set(used_modules(types, services))
    for s in services:
        for m in s.methods:
            if m.streaming:
                continue
            for f in types.messages[m.input][2].field:
                if f.type in (descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                              descriptor_pb2.FieldDescriptorProto.TYPE_ENUM):
                    entry = types.messages.get(f.type_name) or types.enums.get(f.type_name)
                    if entry is not None:
                        mods.add(entry[0])
    out += [f"from {m.rsplit('.', 1)[0]} import {m.rsplit('.', 1)[1]}\n" for m in sorted(mods)]
    out.append("\n")
    for s in services:
        for is_async in (False, True):
            prefix = "Async" if is_async else ""
            out.append(f"\nclass {prefix}{s.name}:\n")
            out.append("    def __init__(self, client: typing.Any) -> None: ...\n")
            for m in s.methods:
                if m.streaming:
                    continue
                req, resp = types.ref(m.input), types.ref(m.output)
                msg = types.messages[m.input][2]
                params = [f"{f.name}: {types.field_type(f)} = ..." for f in msg.field if f.name not in CALL_OPTIONS]
                opts = ["request_id: str | None = None", "timeout: float | None = None",
                        "trace_id: str | None = None"]
                kw = "async def" if is_async else "def"
                sig = ", ".join([f"request: {req} | None = None", "/", "*", *params, *opts])
                out.append(f"    {kw} {m.py_name}(self, {sig}) -> {resp}:\n")
                out.append(docstring(m.full_doc(), 8))
                out.append("        ...\n")
    for is_async in (False, True):
        prefix = "Async" if is_async else ""
        out.append(f"\nclass _{prefix}Services:\n")
        for s in services:
            out.append(f"    {s.attr}: {prefix}{s.name}\n")
        out.append("    def _bind_services(self) -> None: ...\n")
    out.append("\nSERVICES: tuple[tuple[str, str], ...]\n")
    return "".join(out)


def main():
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    response = plugin_pb2.CodeGeneratorResponse()
    try:
        types, services = collect(request)
        response.file.add(name=OUT_MODULE + ".py", content=gen_module(types, services))
        response.file.add(name=OUT_MODULE + ".pyi", content=gen_stub(types, services))
    except Exception as e:  # reported by protoc, naming the plugin
        response.error = f"{type(e).__name__}: {e}"
    sys.stdout.buffer.write(response.SerializeToString())


if __name__ == "__main__":
    main()
