"""TLS listeners: `serve --tls-cert FILE --tls-key FILE` with https:// (HTTP),
tls+tcp:// (RPC and events); clients trust the authority in BEEBEEBRAIN_TLS_CA.

A throw-away authority and a server certificate for 127.0.0.1 are made with
openssl in the test's temp dir."""

import http.client
import json
import os
import ssl
import subprocess

import pytest

from conftest import BIN, Server, child_env, free_port, wait_until


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """ca.pem (the authority), cert.pem/key.pem (127.0.0.1, signed by it),
    other_ca.pem (an authority that signed nothing of ours), other_key.pem."""
    d = tmp_path_factory.mktemp("pki")
    for name in ("ca", "other_ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                 "-keyout", f"{name}_key.pem", "-out", f"{name}.pem", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "key.pem",
             "-out", "cert.csr", cwd=d)
    # nng's TLS (mbedTLS 2.28) matches the dialed host against DNS names only,
    # so the address is there as a DNS name too (docs/security.md).
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "cert.csr", "-CA", "ca.pem", "-CAkey", "ca_key.pem", "-CAcreateserial",
             "-days", "2", "-extfile", "san.cnf", "-out", "cert.pem", cwd=d)
    _openssl("genrsa", "-out", "other_key.pem", "2048", cwd=d)
    return d


def _cli(url, *args, ca=None, timeout_s=30):
    env = child_env()
    if ca is not None:
        env["BEEBEEBRAIN_TLS_CA"] = str(ca)
    p = subprocess.run([BIN, "--rpc", url, *map(str, args)], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, env=env, timeout=timeout_s)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture
def tls_server(tmp_path, pki):
    srv = Server(tmp_path / "bbb.db", f"tls+tcp://127.0.0.1:{free_port()}",
                 extra_args=["--tls-cert", pki / "cert.pem", "--tls-key", pki / "key.pem"])
    srv.extra_args = [str(a) for a in srv.extra_args]
    srv.events_url = f"tls+tcp://127.0.0.1:{free_port()}"
    srv.workspace = tmp_path / "workspace"
    srv.workspace.mkdir()
    srv.http_url = f"https://127.0.0.1:{srv.http_port}"
    srv.spawn()

    def healthy():
        if srv.proc.poll() is not None:
            pytest.fail(f"server exited with status {srv.proc.returncode}:\n{srv.log()}")
        return _cli(srv.url, "health", ca=pki / "ca.pem", timeout_s=10)[0] == 0

    try:
        wait_until(healthy, 15, "the TLS server to answer health")
    except BaseException:
        srv.proc.kill()  # a server that never answered is not left behind
        srv.proc.wait()
        raise
    yield srv
    assert srv.stop() == 0, srv.log()


def _https(srv, cafile, method, path, body=None, headers=None):
    ctx = ssl.create_default_context(cafile=str(cafile))
    conn = http.client.HTTPSConnection("127.0.0.1", srv.http_port, context=ctx, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def test_https_listener_serves_healthz_and_connect_calls(tls_server, pki):
    status, headers, body = _https(tls_server, pki / "ca.pem", "GET", "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert headers.get("X-Trace-ID", "").startswith("trace-http-")
    status, _, body = _https(tls_server, pki / "ca.pem", "POST", "/beebeebrain.v1.ProjectService/ListProjects",
                             body=b"{}", headers={"Content-Type": "application/json"})
    assert status == 200, body
    assert "projects" in json.loads(body) or json.loads(body) == {}


def test_https_listener_refuses_a_client_that_does_not_trust_the_authority(tls_server, pki):
    with pytest.raises(ssl.SSLCertVerificationError):
        _https(tls_server, pki / "other_ca.pem", "GET", "/healthz")


def test_plain_http_on_the_https_port_gets_no_answer(tls_server):
    conn = http.client.HTTPConnection("127.0.0.1", tls_server.http_port, timeout=5)
    try:
        with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
            conn.request("GET", "/healthz")
            conn.getresponse().read()
    finally:
        conn.close()


def test_cli_calls_and_follows_events_over_tls_tcp(tls_server, pki):
    rc, out, err = _cli(tls_server.url, "-o", "json", "project", "create", "p1", "--root",
                        tls_server.workspace, ca=pki / "ca.pem")
    assert rc == 0, err
    project = json.loads(out)
    assert project["project"]["name"] == "p1", project
    # The subscriber dials the tls+tcp:// events URL it learns from StreamInfo.
    env = {**child_env(), "BEEBEEBRAIN_TLS_CA": str(pki / "ca.pem")}
    follow = subprocess.Popen([BIN, "--rpc", tls_server.url, "events", "--follow", "--replay-last", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        replayed = follow.stdout.readline()  # over RPC (Replay)
        assert replayed.split()[2] == "security.audit.allowed", replayed or follow.stderr.read()
        root2 = tls_server.workspace.parent / "workspace2"
        root2.mkdir()
        rc, _, err = _cli(tls_server.url, "project", "create", "p2", "--root", root2, ca=pki / "ca.pem")
        assert rc == 0, err
        live = follow.stdout.readline()  # over the tls+tcp:// pub socket
        assert live.split()[0] == "2" and "project/2" in live, live or follow.stderr.read()
    finally:
        follow.kill()
        follow.wait()


def test_cli_without_the_authority_says_what_to_set(tls_server):
    rc, _, err = _cli(tls_server.url, "health")
    assert rc == 3
    assert "BEEBEEBRAIN_TLS_CA" in err


def test_cli_with_another_authority_cannot_connect(tls_server, pki):
    rc, _, err = _cli(tls_server.url, "health", ca=pki / "other_ca.pem", timeout_s=30)
    assert rc == 3, err


def _serve_fails(tmp_path, *args):
    env = child_env()
    p = subprocess.run([BIN, "serve", "--db", str(tmp_path / "x.db"), "--rpc", f"tcp://127.0.0.1:{free_port()}",
                        "--events", f"tcp://127.0.0.1:{free_port()}", *map(str, args)],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env, timeout=30)
    return p.returncode, p.stderr


def test_a_tls_listener_without_a_certificate_is_refused_at_start(tmp_path):
    rc, err = _serve_fails(tmp_path, "--http", f"https://127.0.0.1:{free_port()}")
    assert rc == 2 and "--tls-cert" in err
    rc, err = _serve_fails(tmp_path, "--http", "none", "--rpc", f"tls+tcp://127.0.0.1:{free_port()}")
    assert rc == 2 and "--tls-cert" in err


def test_a_certificate_without_its_key_is_refused_at_start(tmp_path, pki):
    rc, err = _serve_fails(tmp_path, "--http", "none", "--tls-cert", pki / "cert.pem")
    assert rc == 2 and "--tls-key" in err


def test_files_that_are_not_pem_are_refused_at_start(tmp_path, pki):
    junk = tmp_path / "junk.txt"
    junk.write_text("not a certificate\n")
    rc, err = _serve_fails(tmp_path, "--http", "none", "--tls-cert", junk, "--tls-key", pki / "key.pem")
    assert rc == 2 and "--tls-cert" in err and "PEM" in err
    rc, err = _serve_fails(tmp_path, "--http", "none", "--tls-cert", pki / "cert.pem", "--tls-key",
                           tmp_path / "missing.pem")
    assert rc == 2 and "--tls-key" in err


def test_a_key_that_is_not_the_certificates_is_refused_at_start(tmp_path, pki):
    rc, err = _serve_fails(tmp_path, "--http", f"https://127.0.0.1:{free_port()}", "--tls-cert", pki / "cert.pem",
                           "--tls-key", pki / "other_key.pem")
    assert rc != 0 and "--tls-" in err, err
