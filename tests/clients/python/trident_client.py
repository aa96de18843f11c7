#!/usr/bin/env python3
"""A gRPC C-core client for tridentd: Python grpcio with stubs generated from our own protos.

It talks to the daemon the way Python, C++, Ruby and PHP tooling does: a `unix:///path` target
and the channel's default authority (C-core sends the percent-encoded socket path). Every
command prints JSON lines on stdout so a test (apps/daemon/src/python-client.test.ts) can check
them; run by hand, see README.md.

    trident_client.py --socket PATH --stubs DIR [--protos DIR] COMMAND [options]

Commands: version | validate [--config-file F | --no-config] | stream-disk URL [--hash H]
[--caller-handles-reboot] | malformed | disconnect URL [--after N] [--hard] | unknown-method | status
| call PACKAGE.SERVICE/METHOD [--request JSON] [--config-file F --config-field PATH]

`call` drives any RPC of our protos (Commit, CheckRoot, RollbackService, InstallStage/Finalize,
UpdateService...): the request is proto3 JSON (field names as in the .proto), a Host Configuration
file can be placed at a dotted field path (`stage.config.config`); streamed responses are printed
one line each, then the final status.
"""

import argparse
import json
import os
import sys


def generate_stubs(protos: str, stubs: str) -> None:
    """Runs grpc_tools.protoc on every .proto under `protos` into `stubs` (once per directory)."""
    marker = os.path.join(stubs, ".generated")
    if os.path.exists(marker):
        return
    from grpc_tools import protoc  # noqa: PLC0415 (only needed the first time)
    import importlib.resources

    files = []
    for root, _dirs, names in os.walk(protos):
        files += [os.path.relpath(os.path.join(root, n), protos) for n in names if n.endswith(".proto")]
    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    os.makedirs(stubs, exist_ok=True)
    args = ["protoc", f"-I{protos}", f"-I{well_known}", f"--python_out={stubs}", f"--grpc_python_out={stubs}"]
    code = protoc.main(args + sorted(files))
    if code != 0:
        sys.exit(f"grpc_tools.protoc failed with exit code {code} for {protos}")
    open(marker, "w").close()


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def status_fields(error) -> dict:
    """A grpc.RpcError as {code, details} (code by name, e.g. INVALID_ARGUMENT)."""
    return {"code": error.code().name, "details": error.details()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--socket", required=True, help="tridentd's unix socket path")
    parser.add_argument("--stubs", required=True, help="directory for the generated Python stubs")
    default_protos = os.path.join(os.path.dirname(__file__), "..", "..", "..", "apps", "daemon", "proto")
    parser.add_argument("--protos", default=os.path.normpath(default_protos), help="our .proto root")
    parser.add_argument("--timeout", type=float, default=120.0, help="deadline per call, seconds")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version")
    validate = sub.add_parser("validate")
    validate.add_argument("--config-file")
    validate.add_argument("--no-config", action="store_true")
    stream = sub.add_parser("stream-disk")
    stream.add_argument("url")
    stream.add_argument("--hash")
    stream.add_argument("--caller-handles-reboot", action="store_true")
    sub.add_parser("malformed")
    sub.add_parser("unknown-method")
    sub.add_parser("status", help="every StatusService getter, one line each")
    disconnect = sub.add_parser("disconnect")
    disconnect.add_argument("url")
    disconnect.add_argument("--after", type=int, default=2, help="messages to read before going away")
    disconnect.add_argument("--hard", action="store_true", help="exit the process instead of cancelling")
    call_parser = sub.add_parser("call", help="any RPC: PACKAGE.SERVICE/METHOD with a JSON request")
    call_parser.add_argument("method", help="e.g. trident.v1.CommitService/Commit")
    call_parser.add_argument("--request", default="{}", help="the request as proto3 JSON")
    call_parser.add_argument("--config-file", help="a Host Configuration file to place in the request")
    call_parser.add_argument("--config-field", default="config.config", help="where it goes (dotted path)")
    args = parser.parse_args()

    generate_stubs(args.protos, args.stubs)
    sys.path.insert(0, args.stubs)
    import grpc  # noqa: PLC0415
    from google.protobuf.json_format import MessageToDict  # noqa: PLC0415
    from trident.v1 import servicing_pb2  # noqa: PLC0415
    from trident.v1 import streaming_service_pb2, streaming_service_pb2_grpc  # noqa: PLC0415
    from trident.v1 import version_service_pb2, version_service_pb2_grpc  # noqa: PLC0415
    from trident.v1 import host_config_pb2  # noqa: PLC0415
    from trident.v1preview import validation_service_pb2, validation_service_pb2_grpc  # noqa: PLC0415
    from trident.v1preview import status_service_pb2, status_service_pb2_grpc  # noqa: PLC0415

    def as_dict(message) -> dict:
        return MessageToDict(message, preserving_proto_field_name=True)

    # The default authority: no grpc.default_authority option, exactly what C-core picks.
    target = f"unix://{os.path.abspath(args.socket)}"
    channel = grpc.insecure_channel(target)
    emit(event="channel", target=target, grpcio=grpc.__version__)

    if args.command == "version":
        try:
            response = version_service_pb2_grpc.VersionServiceStub(channel).Version(
                version_service_pb2.VersionRequest(), timeout=args.timeout
            )
            emit(event="version", version=response.version)
        except grpc.RpcError as error:
            emit(event="error", **status_fields(error))
        return 0

    if args.command == "validate":
        request = validation_service_pb2.ValidateHostConfigurationRequest()
        if not args.no_config:
            with open(args.config_file, encoding="utf-8") as f:
                request.config.CopyFrom(host_config_pb2.HostConfiguration(config=f.read()))
        try:
            response = validation_service_pb2_grpc.ValidationServiceStub(channel).ValidateHostConfiguration(
                request, timeout=args.timeout
            )
            emit(event="validated", ok=response.ok, error=as_dict(response.error) if response.HasField("error") else None)
        except grpc.RpcError as error:
            emit(event="error", **status_fields(error))
        return 0

    def stream_request(url: str, image_hash, caller_handles_reboot: bool):
        request = streaming_service_pb2.StreamDiskRequest(image_url=url)
        if image_hash is not None:
            request.image_hash = image_hash
        if caller_handles_reboot:
            request.reboot.handling = servicing_pb2.RebootHandling.CALLER_HANDLES_REBOOT
        return request

    if args.command == "stream-disk":
        stub = streaming_service_pb2_grpc.StreamingServiceStub(channel)
        call = stub.StreamDisk(stream_request(args.url, args.hash, args.caller_handles_reboot), timeout=args.timeout)
        try:
            for message in call:
                emit(event="message", kind=message.WhichOneof("response"), message=as_dict(message))
            emit(event="status", code=call.code().name, details=call.details())
        except grpc.RpcError as error:
            emit(event="status", **status_fields(error))
        return 0

    if args.command == "disconnect":
        stub = streaming_service_pb2_grpc.StreamingServiceStub(channel)
        call = stub.StreamDisk(stream_request(args.url, None, True), timeout=args.timeout)
        received = 0
        for message in call:
            received += 1
            emit(event="message", kind=message.WhichOneof("response"))
            if received >= args.after:
                break
        if args.hard:
            # The process goes away with the stream open: the kernel closes the socket.
            emit(event="gone", how="exit")
            os._exit(0)
        call.cancel()
        emit(event="gone", how="cancel", code=call.code().name)
        channel.close()
        return 0

    if args.command == "status":
        stub = status_service_pb2_grpc.StatusServiceStub(channel)
        calls = [
            ("GetServicingState", status_service_pb2.GetServicingStateRequest()),
            ("GetActiveVolume", status_service_pb2.GetActiveVolumeRequest()),
            ("GetProvisionedConfig", status_service_pb2.GetConfigRequest()),
            ("GetServicingConfig", status_service_pb2.GetConfigRequest()),
            ("GetLastError", status_service_pb2.GetLastErrorRequest()),
        ]
        for method, request in calls:
            try:
                response = getattr(stub, method)(request, timeout=args.timeout)
                emit(event="status-call", method=method, response=as_dict(response))
            except grpc.RpcError as error:
                emit(event="status-call", method=method, **status_fields(error))
        return 0

    if args.command == "call":
        return call_any(args, channel, grpc, as_dict)

    if args.command == "unknown-method":
        raw = channel.unary_unary("/trident.v1.VersionService/NoSuchMethod")
        try:
            raw(b"", timeout=args.timeout)
            emit(event="status", code="OK")
        except grpc.RpcError as error:
            emit(event="status", **status_fields(error))
        return 0

    if args.command == "malformed":
        # Bytes that are not the request message, sent with the C-core framing.
        cases = [
            ("/trident.v1.VersionService/Version", b"\xff\xff\xff\xff"),
            ("/trident.v1.StreamingService/StreamDisk", b"\x0a\xff\xff\xff\xff\x0f"),
            ("/trident.v1preview.ValidationService/ValidateHostConfiguration", b"\x0a\x05\x0a\x03"),
        ]
        for path, payload in cases:
            if path.endswith("StreamDisk"):
                call = channel.unary_stream(path)(payload, timeout=args.timeout)
                try:
                    for _ in call:
                        pass
                    emit(event="status", path=path, code=call.code().name, details=call.details())
                except grpc.RpcError as error:
                    emit(event="status", path=path, **status_fields(error))
            else:
                try:
                    channel.unary_unary(path)(payload, timeout=args.timeout)
                    emit(event="status", path=path, code="OK")
                except grpc.RpcError as error:
                    emit(event="status", path=path, **status_fields(error))
        # A StreamDisk whose URL is not a URL: a request the daemon decodes and refuses.
        try:
            call = streaming_service_pb2_grpc.StreamingServiceStub(channel).StreamDisk(
                stream_request("not a url", None, True), timeout=args.timeout
            )
            for _ in call:
                pass
            emit(event="status", path="StreamDisk(not a url)", code=call.code().name, details=call.details())
        except grpc.RpcError as error:
            emit(event="status", path="StreamDisk(not a url)", **status_fields(error))
        return 0

    return 2


def call_any(args, channel, grpc, as_dict) -> int:
    """One RPC by name, typed by the descriptors of the generated stubs (every *_pb2 imported)."""
    import importlib  # noqa: PLC0415

    from google.protobuf import descriptor_pool, json_format, message_factory  # noqa: PLC0415

    for root, _dirs, names in os.walk(args.stubs):
        for name in names:
            if name.endswith("_pb2.py"):
                rel = os.path.relpath(os.path.join(root, name[:-3]), args.stubs)
                importlib.import_module(rel.replace(os.sep, "."))
    service_name, _, method_name = args.method.partition("/")
    service = descriptor_pool.Default().FindServiceByName(service_name)
    method = service.methods_by_name[method_name]
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    body = json.loads(args.request)
    if args.config_file is not None:
        with open(args.config_file, encoding="utf-8") as f:
            text = f.read()
        node = body
        *parents, leaf = args.config_field.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = text
    request = json_format.ParseDict(body, request_class(), ignore_unknown_fields=False)
    path = f"/{service_name}/{method_name}"
    serialize = request_class.SerializeToString
    if method.server_streaming:
        call = channel.unary_stream(path, request_serializer=serialize, response_deserializer=response_class.FromString)(
            request, timeout=args.timeout
        )
        try:
            for message in call:
                emit(event="message", kind=message.WhichOneof("response"), message=as_dict(message))
            emit(event="status", code=call.code().name, details=call.details())
        except grpc.RpcError as error:
            emit(event="status", **status_fields(error))
    else:
        try:
            response = channel.unary_unary(path, request_serializer=serialize, response_deserializer=response_class.FromString)(
                request, timeout=args.timeout
            )
            emit(event="response", message=as_dict(response))
        except grpc.RpcError as error:
            emit(event="status", **status_fields(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
