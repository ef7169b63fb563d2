"""Run time stays offline and never trusts remote code."""
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hwcov.cases import generate
from hwcov.run import sweep
from hwcov.run.runner import Limits

ENGINE = Path(__file__).resolve().parents[2] / "hwcov"


def test_a_sweep_makes_no_network_connection(archs, tmp_path, monkeypatch):
    attempts = []
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else str(address)
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
            attempts.append(address)
            raise OSError(f"network access attempted: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    tests = generate.generate([archs["bert"], archs["vit"]], tmp_path / "gen")
    # cases forked from this process, not the fork server, so that they inherit the guard patched here (the test
    # below watches the fork server's cases, and native code, with strace)
    rows = sweep.sweep(tests, "cpu", tmp_path / "art", progress=False, log=lambda m: None, limits=Limits(start="fork"))
    assert [r["status"] for r in rows] == ["pass", "pass"], [r["error_message"] for r in rows]
    assert attempts == []


def test_the_engine_never_enables_remote_code_or_downloads():
    """Random-weight cases build from configs; a user's checkpoint (models/checkpoints.py, issue #26) is the one
    place that loads weights, and every load there is local_files_only, remote code only by the user's flag."""
    sources = {p: p.read_text() for p in ENGINE.rglob("*.py") if "node_modules" not in p.parts}
    assert sources
    loaders = ENGINE / "models" / "checkpoints.py"
    for path, text in sources.items():
        assert not re.search(r"trust_remote_code\s*=\s*True", text), path
        assert "from_pretrained(" not in text or path == loaders, path
    calls = re.findall(r"from_pretrained\(([^)]*)\)", sources[loaders])
    assert calls and all("local_files_only=True" in c or "**options" in c for c in calls), calls
    assert 'options = {"local_files_only": True' in sources[loaders]


# A sweep on the cpu reference and the two exported runtimes, in a child process of its own: what the native
# libraries (ONNX Runtime's C++ telemetry, OpenVINO's) send never passes Python's socket.connect above.
NATIVE_SWEEP = """
import sys
import time
from pathlib import Path
from hwcov.cases import generate
from hwcov.models import inventory
from hwcov.run import sweep
from hwcov.run.runner import Limits
out = Path(sys.argv[1])
tests = generate.generate([inventory.by_type()["bert"]], out / "gen")
started = time.monotonic()
for hardware in ("onnxruntime", "openvino", "cpu"):
    rows = sweep.sweep(tests, hardware, out / "art", progress=False, log=lambda m: None, limits=Limits(workers=1))
    print(hardware, [(r["status"], r["error_message"]) for r in rows], flush=True)
time.sleep(max(0.0, LINGER_S - (time.monotonic() - started)))
"""
# A background uploader fires late (ONNX Runtime's about 9 s after the library loads): the child lives at least
# this long after loading it (the three sweeps usually take longer; then it doesn't wait at all).
LINGER_S = 15
# Telemetry switches a machine may carry in its environment (CI=true turns OpenVINO's off, for one): the child
# goes without them, so what is checked is the engine's own switches, not this machine's.
AMBIENT_SWITCHES = ("CI", "TF_BUILD", "JENKINS_URL", "HF_HUB_DISABLE_TELEMETRY", "DISABLE_TELEMETRY", "DO_NOT_TRACK",
                    "DAGSTER_DISABLE_TELEMETRY", "ORT_DISABLE_TELEMETRY", "NNCF_CI", "NNCF_DEV")
TRACED = re.compile(r"^(\d+)\s+(connect|sendto|sendmsg|sendmmsg)\((.*)$")
# systemd-resolved's socket serves name lookups only (nscd's also serves user and group lookups: not counted)
NAME_SERVICE_SOCKETS = ("/systemd/resolve/",)


def leaks(trace: str) -> list[str]:
    """The traced calls that left the machine or looked a name up: a connect/sendto/sendmsg(s) to an address
    that isn't loopback, anything to port 53 (a DNS query, loopback resolver included), or a connect to
    systemd-resolved's socket (getaddrinfo through nss-resolve)."""
    found = []
    for line in trace.splitlines():
        match = TRACED.match(line)
        if not match:
            continue
        call = match.group(3)
        if "sa_family=AF_UNIX" in call:
            if any(s in call for s in NAME_SERVICE_SOCKETS):
                found.append(line)
            continue
        host = re.search(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"', call)
        port = re.search(r"sin6?_port=htons\((\d+)\)", call)
        if not host:
            continue
        address = ipaddress.ip_address(host.group(1) or host.group(2))
        mapped = getattr(address, "ipv4_mapped", None)
        loopback = address.is_loopback or bool(mapped and mapped.is_loopback)
        if not loopback or (port and port.group(1) == "53"):
            found.append(line)
    return found


def test_leaks_reads_strace_lines():
    trace = "\n".join([
        '7 connect(11, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = 0',
        '7 sendto(11, "x", 50, MSG_NOSIGNAL, {sa_family=AF_INET, sin_port=htons(53), '
        'sin_addr=inet_addr("127.0.0.53")}, 16) = 50',
        '8 connect(3, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "2606:4700::1", &sin6_addr), sin6_scope_id=0}, 28 <unfinished ...>',
        '9 connect(3, {sa_family=AF_UNIX, sun_path="/run/systemd/resolve/io.systemd.Resolve"}, 41) = 0',
        '9 connect(3, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT',
        '9 connect(4, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
        '9 connect(5, {sa_family=AF_INET6, sin6_port=htons(80), inet_pton(AF_INET6, "::ffff:127.0.0.1", &a)}, 28) = 0',
        '9 connect(6, {sa_family=AF_UNIX, sun_path="/tmp/pymp-x/listener"}, 110) = 0',
        '9 sendto(7, [{nlmsg_len=20, nlmsg_type=RTM_GETADDR}], 20, 0, {sa_family=AF_NETLINK}, 12) = 20',
        "9 <... connect resumed>) = 0",
    ])
    assert [line.split()[1][:7] for line in leaks(trace)] == ["connect", "sendto(", "connect", "connect"]


def test_a_sweep_sends_nothing_off_the_machine_even_from_native_code(tmp_path):
    """cpu, onnxruntime and openvino on one tiny architecture under `strace -f`: no lookup, no connection."""
    strace = shutil.which("strace")
    if sys.platform != "linux" or strace is None:
        pytest.skip("needs strace on Linux (.ci/setup installs it)")
    attach = subprocess.run([strace, "-f", "-o", os.devnull, "true"], capture_output=True, text=True)
    if attach.returncode != 0:  # ptrace refused (a container without CAP_SYS_PTRACE, yama)
        pytest.skip(f"strace can't trace here: {attach.stderr.strip()[:200]}")
    env = {k: v for k, v in os.environ.items() if k not in AMBIENT_SWITCHES}
    env.update(HF_HUB_OFFLINE="1", HOME=str(tmp_path / "home"))  # a fresh home: no opt-out a user once filed
    (tmp_path / "home").mkdir()
    trace = tmp_path / "strace.txt"
    command = [strace, "-f", "-qq", "-s", "64", "-e", "trace=connect,sendto,sendmsg,sendmmsg", "-o", str(trace),
               sys.executable, "-c", NATIVE_SWEEP.replace("LINGER_S", str(LINGER_S)), str(tmp_path / "out")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[:3] == [f"{hw} [('pass', '')]" for hw in ("onnxruntime", "openvino", "cpu")], \
        done.stdout + done.stderr[-3000:]
    traced = trace.read_text()
    found = leaks(traced)
    # with them the DNS queries themselves (the name asked for), sent on the sockets connected to port 53
    dns = {m.groups() for line in found if "htons(53)" in line
           if (m := re.match(r"(\d+)\s+connect\((\d+)", line))}
    queries = [line for line in traced.splitlines()
               if (m := re.match(r"(\d+)\s+send(?:to|mmsg)\((\d+)", line)) and m.groups() in dns]
    assert not found, "sent off the machine or looked a name up (strace):\n" + "\n".join((found + queries)[:30])
