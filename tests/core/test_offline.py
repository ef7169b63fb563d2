"""Run time stays offline and never trusts remote code."""
import re
import socket
from pathlib import Path

from hwcov.cases import generate
from hwcov.run import sweep

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

    monkeypatch.setattr(socket.socket, "connect", guarded)  # forked workers inherit the guard
    tests = generate.generate([archs["bert"], archs["vit"]], tmp_path / "gen")
    rows = sweep.sweep(tests, "cpu", tmp_path / "art", progress=False, log=lambda m: None)
    assert [r["status"] for r in rows] == ["pass", "pass"], [r["error_message"] for r in rows]
    assert attempts == []


def test_the_engine_never_enables_remote_code_or_downloads():
    sources = {p: p.read_text() for p in ENGINE.rglob("*.py") if "node_modules" not in p.parts}
    assert sources
    for path, text in sources.items():
        assert not re.search(r"trust_remote_code\s*=\s*True", text), path
        assert "from_pretrained(" not in text, path
