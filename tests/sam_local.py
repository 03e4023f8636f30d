"""AWS SAM CLI, unmodified, with its Lambda containers on Docker's host network (test-only).

Usage: .tools/venv/bin/python tests/sam_local.py local invoke|start-api ...   (sam's own argv)

Why: the machines the tests run on may create no bridge network and no iptables rule, so the
project's Docker daemon runs with --bridge=none (testkit::sam_local). Stock SAM puts every Lambda
container on Docker's default bridge and publishes the emulator's port 8080 to 127.0.0.1:<port>
(samcli/local/docker/container.py, Container.__init__ and create()); without a bridge that port
never answers, SAM times out ("Timed out while attempting to establish a connection to the
container") and still exits 0. `--docker-network host` does not change it. Here the container
shares the host's network namespace and the Runtime Interface Emulator listens on the loopback
port SAM already chose, so SAM's own readiness probe and invoke reach it unchanged. Nothing else
of SAM's behaviour is changed: the events it builds, its routing and its answers are its own.

Written against the SAM version pinned in tests/requirements.txt; it refuses any other, since
the internals it wraps (below, each with why) may move. On a machine whose Docker has its
default bridge (Docker Desktop, a stock Linux install), plain `sam` needs none of this.
"""

import ipaddress
import socket
import sys

PINNED_SAM = "1.170.0"

# 1. This process talks to loopback and the Docker socket only. SAM would otherwise call STS
#    (InvokeContext._add_account_id_to_global) and PyPI (its version check), and boto's credential
#    chain may try the EC2 metadata address: none of it may leave the machine in a test.
_real_connect, _real_connect_ex = socket.socket.connect, socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _is_loopback(host):
    if host is None or host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _guard(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        raise ConnectionRefusedError(f"sam_local.py: refusing a connection to {address!r}")


def _connect(self, address):
    _guard(self, address)
    return _real_connect(self, address)


def _connect_ex(self, address):
    _guard(self, address)
    return _real_connect_ex(self, address)


def _getaddrinfo(host, *args, **kwargs):
    if isinstance(host, bytes):
        host = host.decode()
    if not _is_loopback(host):
        raise socket.gaierror(socket.EAI_NONAME, f"sam_local.py: refusing to resolve {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex = _connect, _connect_ex
socket.getaddrinfo = _getaddrinfo

import docker.models.containers  # noqa: E402 (after the guard)
import samcli  # noqa: E402
from samcli.commands.local.cli_common.invoke_context import InvokeContext  # noqa: E402
from samcli.lib.utils import version_checker  # noqa: E402
from samcli.local.docker.container import Container  # noqa: E402

if samcli.__version__ != PINNED_SAM:
    sys.exit(f"sam_local.py wraps SAM {PINNED_SAM}'s internals, not {samcli.__version__}'s")

# 2. No STS GetCallerIdentity: SAM then gives functions its default AWS_ACCOUNT_ID, 123456789012.
InvokeContext._add_account_id_to_global = lambda self: None

# 3. No "a newer SAM is out" check against PyPI after each command.
version_checker.fetch_and_compare_versions = lambda: None

# 4. Lambda containers on the host's network. This wraps docker-py's create(), the one call SAM
#    makes for its containers (Container.create), for SAM's Lambda containers only (the label
#    LambdaContainer sets).
_real_create = docker.models.containers.ContainerCollection.create


def _free_loopback_port():
    # An ephemeral port (32768 and up): never one of SAM's emulator ports (5000 to 8999).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _create(self, image, command=None, **kwargs):
    labels = kwargs.get("labels") or {}
    if labels.get("sam.cli.container.type") == "lambda":
        # Published ports need a bridge; the emulator listens on SAM's chosen port instead.
        ports = kwargs.pop("ports", None) or {}
        interface, host_port = ports[Container.RAPID_PORT_CONTAINER]
        kwargs["network_mode"] = "host"
        # Docker refuses DNS settings together with host networking (set by --container-dns).
        kwargs.pop("dns", None)
        entrypoint = list(kwargs.get("entrypoint") or [])
        if not entrypoint or not entrypoint[0].endswith("aws-lambda-rie"):
            raise RuntimeError(f"sam_local.py: unexpected Lambda entrypoint {entrypoint!r}")
        # The emulator's defaults (0.0.0.0:8080 for invokes, 127.0.0.1:9001 for the function's
        # Runtime API) would collide between containers in one network namespace, and 0.0.0.0
        # would listen beyond loopback: both are given.
        kwargs["entrypoint"] = [
            entrypoint[0],
            "--runtime-interface-emulator-address", f"{interface}:{host_port}",
            "--runtime-api-address", f"127.0.0.1:{_free_loopback_port()}",
            *entrypoint[1:],
        ]
    return _real_create(self, image, command, **kwargs)


docker.models.containers.ContainerCollection.create = _create

# 5. After a function answers, SAM waits up to 1 s for the emulator's "REPORT RequestId:" log
#    line (Container.wait_for_result), and notices it only when the log chunk that holds it has
#    at most one line before it (Container._handle_data_writing); when the function's own lines,
#    END and REPORT arrive in one chunk, every such answer is held back a full second.
_real_handle_data_writing = Container._handle_data_writing


def _handle_data_writing(output_stream, output_data, event):
    _real_handle_data_writing(output_stream, output_data, event)
    if event is not None and b"REPORT RequestId:" in output_data:
        event.set()


Container._handle_data_writing = staticmethod(_handle_data_writing)

if __name__ == "__main__":
    from samcli.cli.main import cli

    sys.argv[0] = "sam"
    sys.exit(cli())
